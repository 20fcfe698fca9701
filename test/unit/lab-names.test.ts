// Lab object names (src/lab/names.ts): each belongs to exactly one lab and one pod.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fabricNetns, labPrefix, nodeNetns, podNetns } from '../../src/lab/names';

test('no name of lab "a-b" starts with lab "a"\'s prefix', () => {
  const names = [fabricNetns('a-b'), nodeNetns('a-b', 'n1'), podNetns('a-b', { namespace: 'default', name: 'r1' })];
  assert.deepEqual(names.filter((n) => n.startsWith(labPrefix('a'))), []);
});

test('pods of namespaces "a-b"/"c" and "a"/"b-c" get different namespaces', () => {
  assert.notEqual(podNetns('lab', { namespace: 'a-b', name: 'c' }), podNetns('lab', { namespace: 'a', name: 'b-c' }));
});

test('a node named like another lab part ("fabric", "p") cannot take the fabric\'s or a pod\'s name', () => {
  assert.notEqual(nodeNetns('lab', 'fabric'), fabricNetns('lab'));
  assert.ok(!nodeNetns('lab', 'p').startsWith(`${labPrefix('lab')}p.`));
});
