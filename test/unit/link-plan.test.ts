// Link planning (src/plumbing/plan.ts): what each link of a pod needs, from its Topology and its
// peers', before anything touches the kernel. One behaviour per test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkProblems, planLinks } from '../../src/plumbing/plan';
import { parseStored, type Link, type Topology } from '../../src/topology';

const NODE_A = '192.0.2.11';
const NODE_B = '192.0.2.12';
// A netns path that exists on every Linux machine: a same-node peer whose sandbox is alive.
const LIVE_NETNS = '/proc/self/ns/net';

function topo(name: string, links: Partial<Link>[], status?: { node: string; netns?: string }): Topology {
  return {
    apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name, namespace: 'lab' },
    spec: { links: links.map((l, i) => ({ uid: i + 1, peer_pod: 'x', local_intf: `eth${i + 1}`, peer_intf: `eth${i + 1}`, ...l })) },
    ...(status ? { status: { src_ip: status.node, net_ns: status.netns ?? LIVE_NETNS } } : {}),
  };
}

const peersOf = (...ts: Topology[]) => new Map(ts.map((t) => [t.metadata.name, t]));

test('a peer alive on the same node gets a veth into its netns, with the address its own Topology gives', () => {
  const me = topo('a', [{ peer_pod: 'b', local_ip: '10.0.0.1/30', peer_ip: '10.0.0.9/30' }], { node: NODE_A });
  const b = topo('b', [{ peer_pod: 'a', local_ip: '10.0.0.2/30' }], { node: NODE_A });
  const [p] = planLinks(me, peersOf(b));
  assert.deepEqual(p, { link: me.spec.links[0], action: 'veth', peerNetns: LIVE_NETNS, peerIp: '10.0.0.2/30' });
});

test('when the peer\'s Topology does not list the link, our peer_ip is its address', () => {
  const me = topo('a', [{ peer_pod: 'b', peer_ip: '10.0.0.9/30' }], { node: NODE_A });
  const b = topo('b', [], { node: NODE_A });
  assert.equal((planLinks(me, peersOf(b))[0] as { peerIp?: string }).peerIp, '10.0.0.9/30');
});

test('a peer on another node gets a VXLAN by default, towards its node and netns', () => {
  const me = topo('a', [{ peer_pod: 'b' }], { node: NODE_A });
  const b = topo('b', [{ peer_pod: 'a' }], { node: NODE_B, netns: '/var/run/netns/b' });
  const [p] = planLinks(me, peersOf(b));
  assert.deepEqual([p!.action, (p as { peerNode: string }).peerNode, (p as { peerNetns: string }).peerNetns], ['vxlan', NODE_B, '/var/run/netns/b']);
});

test('with inter-node link type grpc a peer on another node gets a grpc-wire', () => {
  const me = topo('a', [{ peer_pod: 'b' }], { node: NODE_A });
  const b = topo('b', [{ peer_pod: 'a' }], { node: NODE_B });
  assert.equal(planLinks(me, peersOf(b), 'grpc')[0]!.action, 'grpc');
});

test('a peer that is not up (no Topology, or no status) waits: its own ADD plumbs the link', () => {
  const me = topo('a', [{ peer_pod: 'b' }, { peer_pod: 'c' }], { node: NODE_A });
  const c = topo('c', [{ peer_pod: 'a' }]);
  assert.deepEqual(planLinks(me, peersOf(c)).map((p) => p.action), ['wait', 'wait']);
});

test('a same-node peer whose recorded netns is gone (its DEL never ran) waits', () => {
  const me = topo('a', [{ peer_pod: 'b' }], { node: NODE_A });
  const b = topo('b', [{ peer_pod: 'a' }], { node: NODE_A, netns: '/var/run/netns/no-such-sandbox-for-this-test' });
  assert.equal(planLinks(me, peersOf(b))[0]!.action, 'wait');
});

test('a link to the pod itself is a self link, one to "localhost" a macvlan', () => {
  const me = topo('a', [{ peer_pod: 'a', peer_intf: 'eth9' }, { peer_pod: 'localhost', peer_intf: 'eth0' }], { node: NODE_A });
  assert.deepEqual(planLinks(me, peersOf()).map((p) => p.action), ['self', 'macvlan']);
});

test('links in the skip set are left out of the plan', () => {
  const me = topo('a', [{ peer_pod: 'a', peer_intf: 'eth9' }, { peer_pod: 'localhost', peer_intf: 'eth0' }], { node: NODE_A });
  assert.deepEqual(planLinks(me, peersOf(), 'vxlan', new Set([1])).map((p) => p.link.uid), [2]);
});

test('a link whose peer\'s half is invalid is skipped, and the problem names the peer\'s field', () => {
  const me = topo('a', [{ peer_pod: 'b' }], { node: NODE_A });
  const b = parseStored({
    apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: 'b', namespace: 'lab', resourceVersion: '1' },
    spec: { links: [{ uid: 1, peer_pod: 'a', local_intf: 'this-name-is-far-too-long', peer_intf: 'eth1' }] },
  });
  const { skip, problems } = linkProblems(me, peersOf(b));
  assert.deepEqual([...skip], [1]);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^link uid 1: the peer's half is invalid \(Topology lab\/b spec\.links\[0\]\.local_intf: /);
});
