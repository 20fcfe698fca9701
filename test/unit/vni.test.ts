// VXLAN VNI numbering: KNE's per-namespace scheme (the default, interoperable with KNE's daemons)
// and upstream's 5000 + uid, and the collision check that keeps a second link with a taken VNI
// from being plumbed (the kernel would answer a bare EEXIST: meshnet-cni #45).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fnv32a, vniOf } from '../../src/plumbing/vxlan';
import { planLinks, vniCollisions } from '../../src/plumbing/plan';
import type { Topology } from '../../src/topology';

test('fnv32a is FNV-1a 32 (published test vectors), as Go\'s hash/fnv', () => {
  assert.equal(fnv32a(''), 0x811c9dc5);
  assert.equal(fnv32a('a'), 0xe40c292c);
  assert.equal(fnv32a('foobar'), 0xbf9cf968);
});

test('KNE\'s scheme: uid + 10000 + (fnv32a(namespace) mod 1000) x 10000; upstream\'s: 5000 + uid', () => {
  assert.equal(vniOf(7, 'foobar'), 7 + 10000 + (0xbf9cf968 % 1000) * 10000);
  assert.equal(vniOf(7, 'foobar', 'kne'), vniOf(7, 'foobar'));
  assert.equal(vniOf(7, '', 'kne'), vniOf(7, 'default', 'kne'), 'an empty namespace is "default", as KNE');
  assert.equal(vniOf(7, 'foobar', 'upstream'), 5007);
  assert.notEqual(vniOf(1, 'lab-a'), vniOf(1, 'lab-b'), 'the same uid in two namespaces');
  assert.throws(() => vniOf(2 ** 24, 'x', 'upstream'), /link uid 16777216: VNI .* does not fit VXLAN's 24 bits/);
});

const topo = (ns: string, name: string, peer: string, node: string, uid = 1): Topology => ({
  apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name, namespace: ns },
  spec: { links: [{ uid, peer_pod: peer, local_intf: 'eth1', peer_intf: 'eth1' }] },
  status: { src_ip: node, net_ns: `/var/run/netns/${ns}-${name}` },
});

function collisionsFor(me: Topology, all: Topology[], scheme: 'kne' | 'upstream') {
  const peers = new Map(all.filter((t) => t.metadata.namespace === me.metadata.namespace).map((t) => [t.metadata.name, t]));
  return vniCollisions(me, planLinks(me, peers), all, scheme);
}

test('with upstream\'s scheme the same uid in two namespaces on the same nodes collides: the later (namespace, uid) is left out, naming the other', () => {
  const all = [topo('ns1', 'a', 'b', '192.0.2.11'), topo('ns1', 'b', 'a', '192.0.2.12'), topo('ns2', 'a', 'b', '192.0.2.11'), topo('ns2', 'b', 'a', '192.0.2.12')];
  assert.deepEqual([...collisionsFor(all[0]!, all, 'upstream')], [], 'ns1 keeps its VNI');
  const c = collisionsFor(all[3]!, all, 'upstream');
  assert.deepEqual([...c.keys()], [1]);
  assert.match(c.get(1)!, /^link uid 1 \(b:eth1 – a:eth1\): VXLAN VNI 5001 \(vni_scheme upstream\) is already used by link uid 1 in namespace ns1 \(a:eth1 – b:eth1\)/);
  assert.deepEqual([...collisionsFor(all[3]!, all, 'kne')], [], 'KNE\'s scheme keeps them apart');
});

test('no collision when the other link shares no node, or is not up, or is a same-node link', () => {
  const ns1 = [topo('ns1', 'a', 'b', '192.0.2.11'), topo('ns1', 'b', 'a', '192.0.2.12')];
  const elsewhere = [topo('ns2', 'a', 'b', '192.0.2.13'), topo('ns2', 'b', 'a', '192.0.2.14')];
  assert.deepEqual([...collisionsFor(elsewhere[1]!, [...ns1, ...elsewhere], 'upstream')], []);
  const notUp = [topo('ns2', 'a', 'b', '192.0.2.11'), { ...topo('ns2', 'b', 'a', '192.0.2.12'), status: {} }];
  assert.deepEqual([...collisionsFor(ns1[1]!, [...notUp, ...ns1], 'upstream')], []);
  const sameNode = [topo('ns0', 'a', 'b', '192.0.2.11'), topo('ns0', 'b', 'a', '192.0.2.11')];
  assert.deepEqual([...collisionsFor(ns1[1]!, [...sameNode, ...ns1], 'upstream')], [], 'a veth link holds no VNI');
});
