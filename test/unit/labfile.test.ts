import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LabFileError, parseLabFile } from '../../src/lab/labfile';

const triangle = readFileSync(new URL('../../examples/triangle.yaml', import.meta.url), 'utf8');

test('the shipped triangle parses: 1 node, 3 pods, 3 topologies with 2 links each', () => {
  const spec = parseLabFile(triangle);
  assert.equal(spec.name, 'triangle');
  assert.deepEqual(spec.nodes, [{ name: 'node1' }]);
  assert.deepEqual(spec.pods.map((p) => `${p.namespace}/${p.name}@${p.node}`), ['default/r1@node1', 'default/r2@node1', 'default/r3@node1']);
  assert.deepEqual(spec.topologies.map((t) => t.spec.links.length), [2, 2, 2]);
});

function rejects(yaml: string, field: string, re: RegExp): void {
  assert.throws(() => parseLabFile(yaml), (e: unknown) => {
    assert.ok(e instanceof LabFileError, String(e));
    assert.equal(e.field, field);
    assert.match(e.message, re);
    return true;
  });
}

test('meshnet settings in a lab file', () => {
  assert.deepEqual(parseLabFile('name: x\nnodes: [a]\npods: []\nmeshnet: {disable_tx_offloads: false}\n').meshnet, { disable_tx_offloads: false });
  assert.equal(parseLabFile('name: x\nnodes: [a]\npods: []\n').meshnet, undefined);
});

test('lab file errors name the field', () => {
  rejects('name: x\nnodes: [a]\npods: [{name: p, node: b}]\n', 'pods[0].node', /no node named "b"/);
  rejects('name: Bad_Name\nnodes: [a]\npods: []\n', 'name', /lower-case name/);
  rejects('name: x\nnodes: []\npods: []\n', 'nodes', /non-empty/);
  rejects('name: x\nnodes: [a, a]\npods: []\n', 'nodes[1]', /listed twice/);
  rejects('name: x\nnodes: [a]\npods: [{name: p}]\ntopologies: [{metadata: {name: q}, spec: {links: []}}]\n',
    'topologies[0].metadata.name', /no such pod/);
  rejects('name: x\nnodes: [a]\npods: [{name: p}]\ntopologies: [{metadata: {name: p}, spec: {links: [{uid: 1, peer_pod: z, local_intf: e1, peer_intf: e1}]}}]\n',
    'topologies[0].spec.links[0].peer_pod', /no pod "z"/);
  rejects('name: x\nnodes: [a]\npods: [{name: p}]\ntopologies: [{metadata: {name: p}, spec: {links: [{uid: 1, peer_pod: p, local_intf: eth1234567890123, peer_intf: e1}]}}]\n',
    'topologies[0].spec.links[0].local_intf', /not a valid interface name/);
  rejects('name: [\n', 'lab file', /not valid YAML/);
  rejects('name: x\nnodes: [a]\npods: []\nmeshnet: {disable_tx_offloads: maybe}\n', 'meshnet.disable_tx_offloads', /true or false/);
  rejects('name: x\nnodes: [a]\npods: []\nmeshnet: {store: /tmp}\n', 'meshnet.store', /not a setting a lab can choose/);
});
