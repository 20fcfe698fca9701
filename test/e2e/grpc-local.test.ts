// meshnet.v1beta1 Local, as upstream's Go plugin calls it (grpc-js + the .proto stand in for it),
// answered by meshnetd's handlers from a real store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startGrpcServer, grpcAddress } from '../../src/grpc';
import { localHandlers, nodeInterfaceName } from '../../src/daemon/local-api';
import { FileStore } from '../../src/store';
import { TopologyClient } from '../../src/topology';

const dir = mkdtempSync(join(tmpdir(), 'grpc-local-'));
const topologies = new TopologyClient(new FileStore(dir));
const def = protoLoader.loadSync(join(import.meta.dirname, '../../proto/meshnet/v1beta1/meshnet.proto'), { keepCase: true, longs: String, defaults: true });
const Local = (grpc.loadPackageDefinition(def) as unknown as { meshnet: { v1beta1: { Local: grpc.ServiceClientConstructor } } }).meshnet.v1beta1.Local;
type Obj = Record<string, unknown>;
/** A unary method of a grpc-js client made from a loaded proto (called with .call(client, ...)). */
type UnaryMethod = (req: unknown, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Obj) => void) => void;
const clients: grpc.Client[] = [];
let close: (() => Promise<void>) | undefined;
after(async () => {
  for (const c of clients) c.close();
  await close?.();
  rmSync(dir, { recursive: true, force: true });
});

let call: (method: string, req: Obj) => Promise<Obj>;
before(async () => {
  const s = await startGrpcServer({ host: '127.0.0.1', port: 0, local: localHandlers(topologies, { nodeIp: '192.0.2.99', nodeIntf: 'eth0' }) });
  close = () => s.close();
  const c = new Local(grpcAddress('127.0.0.1', s.port), grpc.credentials.createInsecure()) as grpc.Client & Record<string, UnaryMethod>;
  clients.push(c);
  call = (method, req) => new Promise<Obj>((resolve, reject) =>
    c[method]!.call(c, req, { deadline: Date.now() + 5000 }, (e: grpc.ServiceError | null, r: Obj) => (e ? reject(e) : resolve(r))));
});

/** Two pods linked by uid 7 (names unique per test). */
async function pairOf(a: string, b: string): Promise<void> {
  for (const [name, peer] of [[a, b], [b, a]] as const) {
    await topologies.create({ apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name, namespace: 'default' },
      spec: { links: [{ uid: 7, peer_pod: peer, local_intf: 'eth1', peer_intf: 'eth1', local_ip: name === a ? '12.12.12.1/24' : '12.12.12.2/24' }] } });
  }
}

test('Get of a pod without a Topology is NOT_FOUND, naming it', async () => {
  // connect-node percent-encodes "/" in grpc-message (the spec allows it); grpc-js decodes with
  // decodeURI, which keeps "%2F" (grpc-go decodes it): accept both spellings.
  await assert.rejects(call('Get', { name: 'nobody', kube_ns: 'default' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND && /Topology default\/nobody not found/.test(e.details));
});

test('Get answers the pod\'s links, with this daemon\'s node IP and interface (as upstream)', async () => {
  await pairOf('g1', 'g2');
  const pod = await call('Get', { name: 'g1', kube_ns: 'default' });
  assert.deepEqual([pod.name, pod.src_ip, pod.node_ip, pod.node_intf], ['g1', '', '192.0.2.99', 'eth0']);
  assert.deepEqual((pod.links as Obj[]).map((l) => [l.uid, l.peer_pod, l.local_intf, l.local_ip]), [['7', 'g2', 'eth1', '12.12.12.1/24']]);
});

test('SetAlive records the pod\'s node, netns and container, and Get sees them', async () => {
  await pairOf('a1', 'a2');
  assert.deepEqual(await call('SetAlive', { name: 'a1', kube_ns: 'default', src_ip: '192.0.2.11', net_ns: '/var/run/netns/x', container_id: 'c1' }), { response: true });
  assert.deepEqual((await topologies.get('default', 'a1'))!.status, { src_ip: '192.0.2.11', net_ns: '/var/run/netns/x', container_id: 'c1' });
  assert.equal((await call('Get', { name: 'a1', kube_ns: 'default' })).net_ns, '/var/run/netns/x');
});

test('SetAlive without net_ns marks the pod not alive', async () => {
  await pairOf('d1', 'd2');
  await call('SetAlive', { name: 'd1', kube_ns: 'default', src_ip: '192.0.2.11', net_ns: '/var/run/netns/x', container_id: 'c1' });
  await call('SetAlive', { name: 'd1', kube_ns: 'default' });
  assert.equal((await topologies.get('default', 'd1'))!.status?.net_ns, undefined);
});

test('Skip records a skipped link once, however often it is called', async () => {
  await pairOf('s1', 's2');
  await call('Skip', { pod: 's1', peer: 's2', kube_ns: 'default', link_id: 7 });
  await call('Skip', { pod: 's1', peer: 's2', kube_ns: 'default', link_id: 7 });
  assert.deepEqual((await topologies.get('default', 's1'))!.status?.skipped, [{ pod_name: 's2', link_id: 7 }]);
});

test('IsSkipped tells a pod whether its peer skipped that link', async () => {
  await pairOf('i1', 'i2');
  await call('Skip', { pod: 'i1', peer: 'i2', kube_ns: 'default', link_id: 7 });
  assert.deepEqual(await call('IsSkipped', { pod: 'i2', peer: 'i1', kube_ns: 'default', link_id: 7 }), { response: true });
  assert.deepEqual(await call('IsSkipped', { pod: 'i2', peer: 'i1', kube_ns: 'default', link_id: 8 }), { response: false });
});

test('SkipReverse clears the peer\'s skip of the link', async () => {
  await pairOf('v1', 'v2');
  await call('Skip', { pod: 'v1', peer: 'v2', kube_ns: 'default', link_id: 7 });
  await call('SkipReverse', { pod: 'v2', peer: 'v1', kube_ns: 'default', link_id: 7 });
  assert.deepEqual((await topologies.get('default', 'v1'))!.status?.skipped, []);
});

test('GenerateNodeInterfaceName gives a pod interface the same short name every time, another per pod', async () => {
  const n1 = await call('GenerateNodeInterfaceName', { pod_intf_name: 'eth1', pod_name: 'r1' });
  const n2 = await call('GenerateNodeInterfaceName', { pod_intf_name: 'eth1', pod_name: 'r1' });
  assert.deepEqual(n1, n2, 'the same name every time (upstream\'s counter reset on restart)');
  assert.equal(n1.nodeIntfName ?? n1.node_intf_name, nodeInterfaceName('r1', 'eth1'));
  assert.ok(String(n1.node_intf_name).length <= 15);
  assert.notEqual(nodeInterfaceName('r2', 'eth1'), nodeInterfaceName('r1', 'eth1'));
});

test('a bad pod name is INVALID_ARGUMENT', async () => {
  await assert.rejects(call('Get', { name: 'Bad_Name', kube_ns: 'default' }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
});

test('a wire method this server was not given handlers for is UNIMPLEMENTED', async () => {
  await assert.rejects(call('GRPCWireExists', {}), (e: grpc.ServiceError) => e.code === grpc.status.UNIMPLEMENTED);
});
