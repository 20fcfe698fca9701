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

test('inter_node_link_type in a lab file', () => {
  assert.equal(parseLabFile('name: x\nnodes: [a]\npods: []\ninter_node_link_type: grpc\n').interNodeLinkType, 'grpc');
  assert.equal(parseLabFile('name: x\nnodes: [a]\npods: []\n').interNodeLinkType, undefined);
});

test('peer_tls in a lab file: permit or require turn mTLS on between the node daemons; anything else is refused naming the field', () => {
  assert.equal(parseLabFile('name: x\nnodes: [a]\npods: []\npeer_tls: require\n').peerTls, 'require');
  assert.equal(parseLabFile('name: x\nnodes: [a]\npods: []\npeer_tls: off\n').peerTls, undefined);
  rejects('name: x\nnodes: [a]\npods: []\npeer_tls: yes\n', 'peer_tls', /must be off, permit or require, got "yes"/);
});

test('mtu in a lab file is the default of every link without its own; a bad one is refused naming the field', () => {
  const spec = parseLabFile(`name: x
mtu: 9000
nodes: [a]
pods: [{name: r1, node: a}, {name: r2, node: a}]
topologies:
  - metadata: {name: r1}
    spec: {links: [{uid: 1, peer_pod: r2, local_intf: eth1, peer_intf: eth1}, {uid: 2, peer_pod: r2, local_intf: eth2, peer_intf: eth2, mtu: 1500}]}
  - metadata: {name: r2}
    spec: {links: [{uid: 1, peer_pod: r1, local_intf: eth1, peer_intf: eth1}, {uid: 2, peer_pod: r1, local_intf: eth2, peer_intf: eth2, mtu: 1500}]}
`);
  assert.deepEqual(spec.topologies[0]!.spec.links.map((l) => l.mtu), [9000, 1500]);
  rejects('name: x\nnodes: [a]\npods: []\nmtu: 100000\n', 'mtu', /must be an integer from 1280 to 65000, got 100000/);
});

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
  rejects('name: x\nnodes: [a]\npods: []\ninter_node_link_type: gre\n', 'inter_node_link_type', /must be vxlan or grpc, got "gre"/);
});

// A manifest as meshnet users have them (upstream's tests/3node.yml style): Topology and Pod
// documents, plus kinds the lab does not need.
const manifest = `
apiVersion: networkop.co.uk/v1beta1
kind: Topology
metadata: {name: r1}
spec: {links: [{uid: 1, peer_pod: r2, local_intf: eth1, local_ip: 12.12.12.1/24, peer_intf: eth1, peer_ip: 12.12.12.2/24}]}
---
apiVersion: networkop.co.uk/v1beta1
kind: Topology
metadata: {name: r2}
spec: {links: [{uid: 1, peer_pod: r1, local_intf: eth1, local_ip: 12.12.12.2/24, peer_intf: eth1, peer_ip: 12.12.12.1/24}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
`;

test('a plain manifest of Topology objects: name from the file, one pod per Topology, spread over --nodes', () => {
  const one = parseLabFile(manifest, 'tests/My_2node.yml');
  assert.equal(one.name, 'my-2node');
  assert.deepEqual(one.nodes, [{ name: 'node1' }]);
  assert.deepEqual(one.pods.map((p) => `${p.name}@${p.node}`), ['r1@node1', 'r2@node1']);
  const two = parseLabFile(manifest, 'x.yaml', { name: 'mine', nodes: 2 });
  assert.equal(two.name, 'mine');
  assert.deepEqual(two.pods.map((p) => `${p.name}@${p.node}`), ['r1@node1', 'r2@node2']);
});

test('Pod objects place pods (spec.nodeName), kind: List is unwrapped, a lab document may come first', () => {
  const pods = `
kind: List
items:
  - {apiVersion: v1, kind: Pod, metadata: {name: r1}, spec: {nodeName: worker-a}}
  - {apiVersion: v1, kind: Pod, metadata: {name: r2}, spec: {nodeName: worker-b}}
`;
  const spec = parseLabFile(`${manifest}---${pods}`, 'x.yaml');
  assert.deepEqual(spec.nodes, [{ name: 'worker-a' }, { name: 'worker-b' }]);
  assert.deepEqual(spec.pods.map((p) => `${p.name}@${p.node}`), ['r1@worker-a', 'r2@worker-b']);
  const mixed = parseLabFile(`name: mixed\nnodes: [n1]\npods: [{name: r1}, {name: r2}]\n---${manifest}`, 'x.yaml');
  assert.equal(mixed.name, 'mixed');
  assert.equal(mixed.topologies.length, 2);
});

test('manifest errors name what is wrong', () => {
  rejects('kind: ConfigMap\nmetadata: {name: x}\n', 'lab file', /neither a lab document nor any Topology/);
  rejects('name: a\nnodes: [n]\npods: []\n---\nname: b\nnodes: [n]\npods: []\n', 'lab file', /more than one lab document/);
  assert.throws(() => parseLabFile(manifest, 'x.yaml', { nodes: 0 }), /--nodes: must be 1 to 240/);
  // Pods given but one missing: the first link naming it is reported with its field.
  rejects(`${manifest}---\nkind: Pod\nmetadata: {name: r1}\n`, 'topologies[0].spec.links[0].peer_pod', /no pod "r2"/);
});

test('--name renames a lab file\'s lab (the same file can run twice side by side)', () => {
  const spec = parseLabFile(triangle, 'examples/triangle.yaml', { name: 'tri2' });
  assert.equal(spec.name, 'tri2');
  assert.equal(spec.pods.length, 3);
});

test('an invalid --name is refused naming the flag', () => {
  assert.throws(() => parseLabFile(triangle, 'examples/triangle.yaml', { name: 'Bad_Name' }),
    (e: unknown) => e instanceof LabFileError && e.field === '--name');
});

test('--nodes is refused for a lab file, which lists its own nodes', () => {
  assert.throws(() => parseLabFile(triangle, 'examples/triangle.yaml', { nodes: 3 }),
    (e: unknown) => e instanceof LabFileError && e.field === '--nodes' && /lists its nodes/.test(e.message));
});

test('original_meshnet: config.json and links/<pod>.json become the node config and the pods\' Topologies; mistakes name the field', () => {
  const files: Record<string, string> = {
    'c.json': JSON.stringify({ cniVersion: '0.1.0', name: 'my_network', type: 'meshnet', delegate: { type: 'bridge' } }),
    'l/a.json': JSON.stringify([{ uid: 1, peer_pod: 'b', local_intf: 'eth1', peer_intf: 'eth1' }]),
    'l/b.json': JSON.stringify([{ uid: 1, peer_pod: 'a', local_intf: 'eth1', peer_intf: 'eth1' }]),
  };
  const read = (p: string) => {
    if (!(p in files)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return files[p]!;
  };
  const lab = (extra = '') => `name: o\noriginal_meshnet: {config: c.json, links: l}\nnodes: [n1]\npods: [{name: a}, {name: b}]\n${extra}`;
  const spec = parseLabFile(lab(), 'o.yaml', { read });
  assert.equal(spec.originalMeshnet?.config['name'], 'my_network');
  assert.deepEqual(spec.topologies.map((t) => [t.metadata.name, t.spec.links[0]!.peer_pod]), [['a', 'b'], ['b', 'a']]);
  const refused = (text: string, field: string, why: RegExp, r: typeof read | null = read) => assert.throws(() => parseLabFile(text, 'o.yaml', r ? { read: r } : {}),
    (e: unknown) => e instanceof LabFileError && e.field === field && why.test(e.message));
  refused(lab(), 'original_meshnet', /needs the lab file read from disk/, null);
  refused(lab('topologies: []'), 'original_meshnet.links', /and topologies both give the links/);
  refused(lab('inter_node_link_type: grpc'), 'original_meshnet', /brings its own CNI config/);
  refused(lab().replace('[{name: a}, {name: b}]', '[{name: a}, {name: c}]'), 'original_meshnet.links', /cannot read l\/c\.json: ENOENT/);
  files['c.json'] = JSON.stringify({ cniVersion: '0.1.0', name: 'my_network', type: 'meshnet' });
  refused(lab(), 'original_meshnet.config', /has no delegate/);
});

test('an unknown top-level key is refused, naming it and the known ones (a typo must not silently do nothing)', () => {
  rejects('name: t\nnodes: [n1]\npods: [{name: a}]\ninter_node_link: grpc\n', 'inter_node_link', /is not a lab file key \(known: name, nodes, pods, topologies, meshnet, inter_node_link_type/);
});
