// Cable pulls as a router sees them (issue 10): FRR's OSPF runs in the lab's pods; pulling a
// cable with `meshnetctl lab link down` drops the adjacency across it (and only that one), and
// plugging it back brings it to Full again. r1-r2 is a veth (same node), r1-r3 a grpc-wire.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { labDown, labUp, parseLabFile, type LabState } from '../../src/lab';
import { startOspf, type OspfRouter } from '../helpers/frr';
import { until as waitUntil } from '../helpers/wait';

const ctl = (...args: string[]) => spawnSync(process.execPath, [resolve('dist/meshnetctl'), ...args], { encoding: 'utf8' });
const name = `os${process.pid % 10000}${randomBytes(2).toString('hex')}`;
let state: LabState;
const routers: OspfRouter[] = [];
let r1: OspfRouter;

before(async () => {
  state = await labUp(parseLabFile(`
name: ${name}
inter_node_link_type: grpc
nodes: [n1, n2]
pods: [{name: r1, node: n1}, {name: r2, node: n1}, {name: r3, node: n2}]
topologies:
  - metadata: {name: r1}
    spec: {links: [{uid: 1, peer_pod: r2, local_intf: eth1, peer_intf: eth1, local_ip: 10.81.0.1/24, peer_ip: 10.81.0.2/24},
                   {uid: 2, peer_pod: r3, local_intf: eth2, peer_intf: eth1, local_ip: 10.82.0.1/24, peer_ip: 10.82.0.3/24}]}
  - metadata: {name: r2}
    spec: {links: [{uid: 1, peer_pod: r1, local_intf: eth1, peer_intf: eth1, local_ip: 10.81.0.2/24, peer_ip: 10.81.0.1/24}]}
  - metadata: {name: r3}
    spec: {links: [{uid: 2, peer_pod: r1, local_intf: eth1, peer_intf: eth2, local_ip: 10.82.0.3/24, peer_ip: 10.82.0.1/24}]}
`), '(ospf)', { cniBinDir: resolve('dist/cni') });
  const netns = (p: string) => state.pods.find((x) => x.name === p)!.netns;
  r1 = startOspf(netns('r1'), '1.1.1.1', [{ name: 'eth1', network: '10.81.0.0/24' }, { name: 'eth2', network: '10.82.0.0/24' }]);
  routers.push(r1);
  routers.push(startOspf(netns('r2'), '2.2.2.2', [{ name: 'eth1', network: '10.81.0.0/24' }]));
  routers.push(startOspf(netns('r3'), '3.3.3.3', [{ name: 'eth1', network: '10.82.0.0/24' }]));
  await until('both of r1\'s adjacencies Full', 30_000, () => full().length === 2);
});

after(async () => {
  for (const r of routers) r.stop();
  await labDown(name);
});

/** Waits for an OSPF state, naming r1's neighbours if it never comes. */
const until = (what: string, ms: number, cond: () => boolean) => waitUntil(what, cond, ms, () => `r1's neighbours: ${r1.neighbors().join(', ') || 'none'}`);

const full = () => r1.neighbors().filter((n) => n.includes(' Full')).map((n) => n.split(' ')[0]).sort();


for (const [kind, endpoint, peerId, otherId] of [['grpc-wire', 'r1:eth2', '3.3.3.3', '2.2.2.2'], ['veth', 'r2:eth1', '2.2.2.2', '3.3.3.3']] as const) {
  test(`pulling the ${kind} cable drops r1's OSPF adjacency across it; the other stays Full`, async () => {
    assert.deepEqual(full(), ['2.2.2.2', '3.3.3.3']);
    assert.equal(ctl('lab', 'link', 'down', name, endpoint).status, 0);
    // Carrier loss is an interface-down event for zebra: no dead interval to wait out.
    await until(`the adjacency with ${peerId} gone`, 5000, () => !r1.neighbors().some((n) => n.startsWith(`${peerId} `)));
    assert.deepEqual(full(), [otherId]);
  });

  test(`plugging the ${kind} cable back brings the adjacency to Full again`, async () => {
    assert.equal(ctl('lab', 'link', 'up', name, endpoint).status, 0);
    await until(`the adjacency with ${peerId} Full`, 20_000, () => full().length === 2);
  });
}
