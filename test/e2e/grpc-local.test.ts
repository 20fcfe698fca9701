// meshnet.v1beta1 Local, as upstream's Go plugin calls it (grpc-js + the .proto stand in for it),
// answered by meshnetd's handlers from a real store.
import { test, after } from 'node:test';
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

async function client() {
  const s = await startGrpcServer({ host: '127.0.0.1', port: 0, local: localHandlers(topologies, { nodeIp: '192.0.2.99', nodeIntf: 'eth0' }) });
  close = () => s.close();
  const c = new Local(grpcAddress('127.0.0.1', s.port), grpc.credentials.createInsecure()) as grpc.Client & Record<string, UnaryMethod>;
  clients.push(c);
  return (method: string, req: Obj) => new Promise<Obj>((resolve, reject) =>
    c[method]!.call(c, req, { deadline: Date.now() + 5000 }, (e: grpc.ServiceError | null, r: Obj) => (e ? reject(e) : resolve(r))));
}

test('Local over a store: Get, SetAlive, Skip / IsSkipped / SkipReverse, GenerateNodeInterfaceName, errors as statuses', async () => {
  const call = await client();
  // connect-node percent-encodes "/" in grpc-message (the spec allows it); grpc-js decodes with
  // decodeURI, which keeps "%2F" (grpc-go decodes it): accept both spellings.
  await assert.rejects(call('Get', { name: 'r1', kube_ns: 'default' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND && /Topology default(\/|%2F)r1 not found/.test(e.details));
  for (const [name, peer] of [['r1', 'r2'], ['r2', 'r1']] as const) {
    await topologies.create({ apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name, namespace: 'default' },
      spec: { links: [{ uid: 7, peer_pod: peer, local_intf: 'eth1', peer_intf: 'eth1', local_ip: name === 'r1' ? '12.12.12.1/24' : '12.12.12.2/24' }] } });
  }
  const pod = await call('Get', { name: 'r1', kube_ns: 'default' });
  assert.equal(pod.name, 'r1');
  assert.equal(pod.src_ip, '');
  // As upstream: node_ip and node_intf are this daemon's HOST_IP and HOST_INTF, whatever the pod.
  assert.deepEqual([pod.node_ip, pod.node_intf], ['192.0.2.99', 'eth0']);
  assert.deepEqual((pod.links as Obj[]).map((l) => [l.uid, l.peer_pod, l.local_intf, l.local_ip]), [['7', 'r2', 'eth1', '12.12.12.1/24']]);

  assert.deepEqual(await call('SetAlive', { name: 'r1', kube_ns: 'default', src_ip: '192.0.2.11', net_ns: '/var/run/netns/x', container_id: 'c1' }), { response: true });
  assert.deepEqual((await topologies.get('default', 'r1'))!.status, { src_ip: '192.0.2.11', net_ns: '/var/run/netns/x', container_id: 'c1' });
  assert.equal((await call('Get', { name: 'r1', kube_ns: 'default' })).net_ns, '/var/run/netns/x');

  // r1 skipped its link to r2 (r2 not up yet); r2, coming up, sees it and plumbs, then clears it.
  await call('Skip', { pod: 'r1', peer: 'r2', kube_ns: 'default', link_id: 7 });
  await call('Skip', { pod: 'r1', peer: 'r2', kube_ns: 'default', link_id: 7 }); // idempotent
  assert.deepEqual((await topologies.get('default', 'r1'))!.status?.skipped, [{ pod_name: 'r2', link_id: 7 }]);
  assert.deepEqual(await call('IsSkipped', { pod: 'r2', peer: 'r1', kube_ns: 'default', link_id: 7 }), { response: true });
  assert.deepEqual(await call('IsSkipped', { pod: 'r2', peer: 'r1', kube_ns: 'default', link_id: 8 }), { response: false });
  await call('SkipReverse', { pod: 'r2', peer: 'r1', kube_ns: 'default', link_id: 7 });
  assert.deepEqual((await topologies.get('default', 'r1'))!.status?.skipped, []);

  // SetAlive without net_ns: not alive any more.
  await call('SetAlive', { name: 'r1', kube_ns: 'default' });
  assert.equal((await topologies.get('default', 'r1'))!.status?.net_ns, undefined);

  const n1 = await call('GenerateNodeInterfaceName', { pod_intf_name: 'eth1', pod_name: 'r1' });
  const n2 = await call('GenerateNodeInterfaceName', { pod_intf_name: 'eth1', pod_name: 'r1' });
  assert.deepEqual(n1, n2, 'the same name every time (upstream\'s counter reset on restart)');
  assert.equal(n1.nodeIntfName ?? n1.node_intf_name, nodeInterfaceName('r1', 'eth1'));
  assert.ok(String(n1.node_intf_name).length <= 15);
  assert.notEqual(nodeInterfaceName('r2', 'eth1'), nodeInterfaceName('r1', 'eth1'));

  await assert.rejects(call('Get', { name: 'Bad_Name', kube_ns: 'default' }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
  await assert.rejects(call('GRPCWireExists', {}), (e: grpc.ServiceError) => e.code === grpc.status.UNIMPLEMENTED);
});
