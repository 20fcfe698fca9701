// The original meshnet's example in the lab (issue 11): examples/original-meshnet runs as its
// README taught, its config and link lists unchanged, against an etcd the lab starts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { labDown, labState, labUp, processGone, readLabFile, type LabState } from '../../src/lab';
import { listNamedNetns } from '../../src/kernel';

const name = `og${process.pid % 10000}${randomBytes(2).toString('hex')}`;
let state: LabState;
let etcdPid = 0;

before(async () => {
  state = await labUp(readLabFile('examples/original-meshnet/lab.yaml', { name }), 'examples/original-meshnet/lab.yaml', { cniBinDir: resolve('dist/cni') });
  etcdPid = state.etcd!.pid;
});

after(async () => {
  await labDown(name);
});

const etcdctl = (...args: string[]) => spawnSync('etcdctl', [`--endpoints=http://127.0.0.1:${state.etcd!.port}`, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });

test('every node\'s CNI config is config.json as written, its etcd the lab\'s', () => {
  const conf = JSON.parse(readFileSync(state.nodes[0]!.conflist, 'utf8')) as { cniVersion: string; plugins: Record<string, unknown>[] };
  const original = JSON.parse(readFileSync('examples/original-meshnet/config.json', 'utf8')) as Record<string, unknown>;
  assert.equal(conf.cniVersion, '0.1.0');
  const { etcd_host: host, etcd_port: port, delegate, ...rest } = conf.plugins[0]!;
  const { etcd_host: _h, etcd_port: _p, delegate: od, ...orest } = original;
  assert.deepEqual(rest, orest);
  assert.deepEqual([host, port], ['127.0.0.1', String(state.etcd!.port)]);
  assert.deepEqual({ ...(delegate as Record<string, unknown>), ipam: { ...((delegate as { ipam: Record<string, unknown> }).ipam), dataDir: undefined } },
    { ...(od as Record<string, unknown>), ipam: { ...((od as { ipam: Record<string, unknown> }).ipam), dataDir: undefined } });
});

test('the triangle\'s links pass traffic and every pod\'s eth0 comes from the delegate', async () => {
  const { checkLinks } = await import('../../src/lab');
  const { openStore } = await import('../../src/store');
  const { TopologyClient } = await import('../../src/topology');
  const rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
  assert.deepEqual(rows.map((r) => [r.uid, r.pass]), [[1, true], [2, true], [3, true]], JSON.stringify(rows));
  for (const p of labState(name).pods) assert.match(p.result?.ips[0]?.address ?? '', /^10\.244\.1\.\d+\/24$/);
});

test('etcdctl get --prefix /pod1 shows the links the lab uploaded and the state the plugin wrote', () => {
  const r = etcdctl('get', '--prefix', '--keys-only', '/pod1');
  assert.deepEqual(r.stdout.split('\n').filter(Boolean), ['/pod1/container_id', '/pod1/links', '/pod1/net_ns', '/pod1/src_ip']);
  assert.equal(etcdctl('get', '--print-value-only', '/pod1/src_ip').stdout.trim(), state.nodes[0]!.underlayIp);
});

test('lab down stops the lab\'s etcd and leaves nothing', async () => {
  await labDown(name);
  assert.ok(processGone(etcdPid));
  assert.deepEqual(listNamedNetns().filter((n) => n.startsWith(`mnl.${name}.`)), []);
  assert.equal(existsSync(state.dir), false);
});
