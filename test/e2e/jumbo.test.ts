// Jumbo frames (issue 9): a lab file's `mtu: 9000` (or a link's own `mtu`) gives veth links and
// grpc-wires that MTU at both ends, and 9,000-byte IP packets cross them unfragmented (DF set).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { linkIn } from '../helpers/netns';
import { labDown, labUp, parseLabFile, type LabState } from '../../src/lab';

const runDir = mkdtempSync(join(tmpdir(), 'jumbo-'));
const name = `jb${process.pid % 10000}${randomBytes(2).toString('hex')}`;
let lab: LabState;
before(async () => {
  lab = await labUp(parseLabFile(`
name: ${name}
inter_node_link_type: grpc
mtu: 9000
nodes: [n1, n2]
pods: [{name: r1, node: n1}, {name: r2, node: n1}, {name: r3, node: n2}]
topologies:
  - metadata: {name: r1}
    spec: {links: [{uid: 1, peer_pod: r2, local_intf: eth1, peer_intf: eth1, local_ip: 10.91.0.1/24, peer_ip: 10.91.0.2/24},
                   {uid: 2, peer_pod: r3, local_intf: eth2, peer_intf: eth1, local_ip: 10.92.0.1/24, peer_ip: 10.92.0.3/24}]}
  - metadata: {name: r2}
    spec: {links: [{uid: 1, peer_pod: r1, local_intf: eth1, peer_intf: eth1, local_ip: 10.91.0.2/24, peer_ip: 10.91.0.1/24}]}
  - metadata: {name: r3}
    spec: {links: [{uid: 2, peer_pod: r1, local_intf: eth1, peer_intf: eth2, local_ip: 10.92.0.3/24, peer_ip: 10.92.0.1/24}]}
`), '(jumbo)', { runDir, cniBinDir: resolve('dist/cni') });
});
after(async () => {
  await labDown(name, { runDir });
  rmSync(runDir, { recursive: true, force: true });
});

const pod = (p: string) => lab.pods.find((x) => x.name === p)!;

const mtuOf = (p: string, intf: string) => linkIn(pod(p).netns, intf)?.mtu;

/** Pings with `size` bytes of ICMP payload and fragmentation forbidden; the ping's output. */
const ping = (from: string, ip: string, size: number) =>
  spawnSync('ip', ['netns', 'exec', pod(from).netns, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '-M', 'do', '-s', String(size), ip], { encoding: 'utf8' });

test('a veth link gets the lab\'s MTU at both ends, and 9,000-byte packets cross it unfragmented', () => {
  assert.deepEqual([mtuOf('r1', 'eth1'), mtuOf('r2', 'eth1')], [9000, 9000]);
  const r = ping('r1', '10.91.0.2', 8972); // 8,972 + 8 (ICMP) + 20 (IP) = 9,000
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /3 received/);
});

test('a grpc-wire across nodes gets the lab\'s MTU at both ends, and 9,000-byte packets cross it unfragmented', () => {
  assert.deepEqual([mtuOf('r1', 'eth2'), mtuOf('r3', 'eth1')], [9000, 9000]);
  const r = ping('r1', '10.92.0.3', 8972);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /3 received/);
});

test('a packet one byte over the MTU is refused at the sender, not fragmented (the MTU is what the pod sees)', () => {
  const r = ping('r1', '10.92.0.3', 8973);
  assert.notEqual(r.status, 0);
  assert.match(r.stdout + r.stderr, /message too long|mtu=9000/i);
});

test('lab status shows each link\'s MTU as the pods see it', async () => {
  const { checkLinks, formatLinkTable } = await import('../../src/lab');
  const { openStore } = await import('../../src/store');
  const { TopologyClient } = await import('../../src/topology');
  const rows = await checkLinks(lab, await new TopologyClient(await openStore(lab.store)).list(), { traffic: false });
  assert.deepEqual(rows.map((r) => [r.uid, r.kind, r.mtu]), [[1, 'veth', '9000'], [2, 'grpc', '9000']]);
  assert.match(formatLinkTable(rows).split('\n')[0]!, /^LINK\s+ENDPOINT A\s+ENDPOINT B\s+KIND\s+MTU\s+ADDRESSES/);
});

test('a running grpc-wire follows an edit of its link\'s mtu in both Topologies: same interfaces, the new MTU at both ends', async () => {
  const { openStore } = await import('../../src/store');
  const store = await openStore(lab.store);
  const before = [linkIn(pod('r1').netns, 'eth2')!.index, linkIn(pod('r3').netns, 'eth1')!.index];
  for (const [p, intf] of [['r1', 'eth2'], ['r3', 'eth1']] as const) {
    const t = (await store.get('topologies', 'default', p))!;
    const links = (t.spec as { links: { local_intf: string }[] }).links;
    await store.update('topologies', { ...t, spec: { links: links.map((l) => (l.local_intf === intf ? { ...l, mtu: 4000 } : l)) } });
  }
  for (let i = 0; i < 100 && (mtuOf('r1', 'eth2') !== 4000 || mtuOf('r3', 'eth1') !== 4000); i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual([mtuOf('r1', 'eth2'), mtuOf('r3', 'eth1')], [4000, 4000]);
  assert.deepEqual([linkIn(pod('r1').netns, 'eth2')!.index, linkIn(pod('r3').netns, 'eth1')!.index], before, 'the wire was not re-made');
  const r = ping('r1', '10.92.0.3', 3972);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /3 received/);
});
