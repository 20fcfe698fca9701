import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopologyError, checkTopologySet, parseTopology, isValidCidr } from '../../src/topology';

const link = (over: Record<string, unknown> = {}) => ({
  uid: 1, peer_pod: 'r2', local_intf: 'eth1', peer_intf: 'eth1', local_ip: '12.12.12.1/24', peer_ip: '12.12.12.2/24', ...over,
});
const topo = (name: string, links: unknown[], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name }, spec: { links }, ...extra,
});

function throwsField(fn: () => unknown, field: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TopologyError, `expected TopologyError, got ${String(e)}`);
    assert.equal(e.field, field);
    if (re) assert.match(e.message, re);
    return true;
  });
}

test('a KNE-style Topology parses with defaults (namespace default, empty IPs dropped)', () => {
  const t = parseTopology(topo('r1', [link({ uid: 0, local_ip: '', peer_ip: '' })]));
  assert.equal(t.metadata.namespace, 'default');
  assert.deepEqual(t.spec.links[0], { uid: 0, peer_pod: 'r2', local_intf: 'eth1', peer_intf: 'eth1' });
});

test('uid given as a numeric string (int64 through YAML tools) is accepted', () => {
  assert.equal(parseTopology(topo('r1', [link({ uid: '42' })])).spec.links[0]!.uid, 42);
});

test('bad links are rejected with the field path named', () => {
  throwsField(() => parseTopology(topo('r1', [link({ local_intf: 'a-very-long-name0' })])), 'Topology.spec.links[0].local_intf', /not a valid interface name/);
  throwsField(() => parseTopology(topo('r1', [link(), link({ uid: 2, peer_ip: '12.12.12.300/24' })])), 'Topology.spec.links[1].peer_ip', /not a CIDR/);
  throwsField(() => parseTopology(topo('r1', [link({ uid: -1 })])), 'Topology.spec.links[0].uid');
  throwsField(() => parseTopology(topo('r1', [link({ peer_pod: undefined })])), 'Topology.spec.links[0].peer_pod', /required/);
  throwsField(() => parseTopology(topo('r1', [link(), link({ local_intf: 'eth2' })])), 'Topology.spec.links[1].uid', /already used/);
  throwsField(() => parseTopology(topo('r1', [link(), link({ uid: 2 })])), 'Topology.spec.links[1].local_intf', /already used/);
  throwsField(() => parseTopology(topo('r1', [link({ peer_pod: 'r1', peer_intf: 'eth1' })])), 'Topology.spec.links[0].peer_intf', /self link/);
  throwsField(() => parseTopology({ ...topo('r1', []), apiVersion: 'v1' }), 'Topology.apiVersion');
  throwsField(() => parseTopology({ ...topo('R1', []) }), 'Topology.metadata.name');
});

test('status fields round-trip', () => {
  const t = parseTopology(topo('r1', [link()], { status: { src_ip: '192.0.2.11', net_ns: '/var/run/netns/x', container_id: 'abc', skipped: [{ pod_name: 'r2', link_id: 1 }] } }));
  assert.deepEqual(t.status, { src_ip: '192.0.2.11', net_ns: '/var/run/netns/x', container_id: 'abc', skipped: [{ pod_name: 'r2', link_id: 1 }] });
});

test('both halves of a link must agree', () => {
  const r1 = parseTopology(topo('r1', [link()]));
  const r2ok = parseTopology(topo('r2', [link({ peer_pod: 'r1', local_ip: '12.12.12.2/24', peer_ip: '12.12.12.1/24' })]));
  checkTopologySet([r1, r2ok]);
  const r2bad = parseTopology(topo('r2', [link({ peer_pod: 'r1', local_intf: 'eth7' })]));
  assert.throws(() => checkTopologySet([r1, r2bad]), /r1:eth1–r2:eth1 here but r2:eth7–r1:eth1/);
  assert.throws(() => checkTopologySet([r1]), /no Topology for pod "r2"/);
});

test('CIDR parsing for link addresses', () => {
  for (const ok of ['10.0.0.1/8', '2001:db8::1/64', '::/0', '::ffff:1.2.3.4/128']) assert.ok(isValidCidr(ok), ok);
  for (const bad of ['10.0.0.1', '10.0.0.1/33', '2001:db8::1/129', '1:2:3:4:5:6:7:8:9/64', 'abc/1', '1::2::3/64']) assert.ok(!isValidCidr(bad), bad);
});

test('a link\'s optional mtu is kept; one outside 1280..65000 or not an integer is refused naming the field', () => {
  assert.equal(parseTopology(topo('r1', [link({ mtu: 9000 })])).spec.links[0]!.mtu, 9000);
  assert.equal(parseTopology(topo('r1', [link()])).spec.links[0]!.mtu, undefined);
  throwsField(() => parseTopology(topo('r1', [link({ mtu: 576 })])), 'Topology.spec.links[0].mtu', /must be 1280 to 65000, got 576/);
  throwsField(() => parseTopology(topo('r1', [link({ mtu: 'jumbo' })])), 'Topology.spec.links[0].mtu', /non-negative integer/);
});

test('a link\'s optional state is down (a pulled cable) or up (the same as none); anything else is refused naming the field', () => {
  assert.equal(parseTopology(topo('r1', [link({ state: 'down' })])).spec.links[0]!.state, 'down');
  assert.equal(parseTopology(topo('r1', [link({ state: 'up' })])).spec.links[0]!.state, undefined);
  throwsField(() => parseTopology(topo('r1', [link({ state: 'shut' })])), 'Topology.spec.links[0].state', /must be up or down, got "shut"/);
});
