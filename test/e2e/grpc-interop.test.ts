// Wire compatibility with a different gRPC implementation: @grpc/grpc-js, loading
// proto/meshnet/v1beta1/meshnet.proto with @grpc/proto-loader, stands in for grpc-go peers
// (upstream meshnet and KNE daemons). Both directions, over real sockets on loopback.
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startGrpcServer, remoteClient, grpcAddress, GrpcCallError,
  type GrpcServer, type RemotePod, type Packet, type CallContext, Status } from '../../src/grpc/index';

const PROTO = join(import.meta.dirname, '../../proto/meshnet/v1beta1/meshnet.proto');
const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const api = grpc.loadPackageDefinition(def) as unknown as {
  meshnet: { v1beta1: Record<'Local' | 'Remote' | 'WireProtocol', grpc.ServiceClientConstructor> };
};
const { Local, Remote, WireProtocol } = api.meshnet.v1beta1;

type Obj = Record<string, unknown>;
type Unary = (req: Obj, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Obj) => void) => void;

const ours: GrpcServer[] = [];
const theirs: grpc.Server[] = [];
const closers: { close(): void }[] = [];
after(async () => {
  for (const c of closers) c.close();
  await Promise.all(ours.map((s) => s.close()));
  await Promise.all(theirs.map((s) => new Promise<void>((r) => s.tryShutdown(() => r()))));
});

function jsClient(Ctor: grpc.ServiceClientConstructor, address: string): grpc.Client & Record<string, Unary> {
  const c = new Ctor(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Unary>;
  closers.push(c);
  return c;
}
function jsCall(c: Record<string, Unary>, method: string, req: Obj, timeoutMs = 5000): Promise<Obj> {
  return new Promise((resolve, reject) => {
    c[method]!.call(c, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}
async function serveOurs(host: string, opts: Omit<Parameters<typeof startGrpcServer>[0], 'host' | 'port'>): Promise<GrpcServer> {
  const s = await startGrpcServer({ host, port: 0, ...opts });
  ours.push(s);
  return s;
}
async function serveTheirs(host: string, impl: grpc.UntypedServiceImplementation): Promise<number> {
  const s = new grpc.Server();
  s.addService(Remote.service, impl);
  theirs.push(s);
  const bindHost = host.includes(':') ? `[${host}]` : host;
  return new Promise((resolve, reject) =>
    s.bindAsync(`${bindHost}:0`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}
async function ipv6(): Promise<string | undefined> {
  const probe = await import('node:net');
  return new Promise((resolve) => {
    const srv = probe.createServer().once('error', (e: Error) => resolve(e.message)).listen(0, '::1', () => srv.close(() => resolve(undefined)));
  });
}

// snake_case as a grpc-go or grpc-js peer spells it; int64 as a decimal string beyond 2^53.
const POD_WIRE = {
  net_ns: '/var/run/netns/cni-77', intf_name: 'eth1', intf_ip: '12.12.12.2/24', peer_vtep: '10.0.0.1',
  kube_ns: 'default', vni: '4611686018427392905', node_intf: 'eth0',
};
const POD: RemotePod = {
  netNs: '/var/run/netns/cni-77', intfName: 'eth1', intfIp: '12.12.12.2/24', peerVtep: '10.0.0.1',
  kubeNs: 'default', vni: 4611686018427392905n, nodeIntf: 'eth0',
};
const plain = (p: RemotePod): RemotePod => ({
  netNs: p.netNs, intfName: p.intfName, intfIp: p.intfIp, peerVtep: p.peerVtep, kubeNs: p.kubeNs, vni: p.vni, nodeIntf: p.nodeIntf,
});

describe('grpc-js client → our server', () => {
  test('Remote.Update with every field, AddGRPCWireRemote with int64 ids, the KNE batch', async () => {
    const seen: RemotePod[] = [];
    const s = await serveOurs('127.0.0.1', {
      remote: {
        update: (req) => { seen.push(req); return true; },
        addGrpcWireRemote: (w) => ({ response: true, peerIntfId: w.wireIfIdOnPeerNode * 2n }),
        addGrpcWiresRemoteBatch: (items) => items.map((w) => ({ response: w.topoNs === 'lab', peerIntfId: w.linkUid })),
      },
    });
    const c = jsClient(Remote, `127.0.0.1:${s.port}`);
    assert.deepEqual(await jsCall(c, 'Update', POD_WIRE), { response: true });
    assert.deepEqual(plain(seen[0]!), POD);
    assert.deepEqual(await jsCall(c, 'AddGRPCWireRemote', { wire_if_id_on_peer_node: '3000000000000', link_uid: '5', topo_ns: 'lab' }),
      { response: true, peer_intf_id: '6000000000000' });
    assert.deepEqual(await jsCall(c, 'AddGRPCWiresRemoteBatch', { items: [{ link_uid: '1', topo_ns: 'lab' }, { link_uid: '2' }] }),
      { items: [{ response: true, peer_intf_id: '1' }, { response: false, peer_intf_id: '2' }] });
  });

  test('Local: an implemented method answers, Local.Skip without a handler is UNIMPLEMENTED', async () => {
    const s = await serveOurs('127.0.0.1', {
      local: { generateNodeInterfaceName: (r) => ({ ok: true, nodeIntfName: `${r.podName}-${r.podIntfName}` }) },
    });
    const c = jsClient(Local, `127.0.0.1:${s.port}`);
    assert.deepEqual(await jsCall(c, 'GenerateNodeInterfaceName', { pod_intf_name: 'eth1', pod_name: 'r1' }),
      { ok: true, node_intf_name: 'r1-eth1' });
    await assert.rejects(jsCall(c, 'Skip', { pod: 'r1', peer: 'r2', kube_ns: 'default', link_id: '1' }), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNIMPLEMENTED);
      return true;
    });
  });

  test('a handler that throws: grpc-js sees INTERNAL and the message', async () => {
    const s = await serveOurs('127.0.0.1', { remote: { update: () => { throw new Error('vxlan vni 5001 already in use'); } } });
    const c = jsClient(Remote, `127.0.0.1:${s.port}`);
    await assert.rejects(jsCall(c, 'Update', POD_WIRE), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.INTERNAL);
      assert.equal(e.details, 'vxlan vni 5001 already in use');
      return true;
    });
  });

  test('a message with slashes, a percent sign and non-ASCII reaches grpc-js as written (spec percent-encoding, not encodeURIComponent)', async () => {
    const message = 'opening netns /var/run/netns/cni-1f: 100% gone – é';
    const s = await serveOurs('127.0.0.1', { remote: { update: () => { throw new Error(message); } } });
    const c = jsClient(Remote, `127.0.0.1:${s.port}`);
    await assert.rejects(jsCall(c, 'Update', POD_WIRE), (e: grpc.ServiceError) => {
      assert.equal(e.details, message);
      return true;
    });
  });

  test("grpc-js's deadline reaches our handler as an aborted signal", async () => {
    let aborted: Promise<void> | undefined;
    const s = await serveOurs('127.0.0.1', {
      remote: {
        update: (_r, call: CallContext) => {
          aborted = new Promise((resolve) => call.signal.addEventListener('abort', () => resolve(), { once: true }));
          return new Promise<boolean>(() => {});
        },
      },
    });
    const c = jsClient(Remote, `127.0.0.1:${s.port}`);
    await assert.rejects(jsCall(c, 'Update', POD_WIRE, 150), (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED);
    assert.ok(aborted);
    await aborted;
  });

  test('WireProtocol: SendToOnce and a SendToStream of frames arrive intact and in order', async () => {
    const got: { id: bigint; frame: Buffer }[] = [];
    const s = await serveOurs('127.0.0.1', {
      wire: { sendToOnce: (p: Packet) => { got.push({ id: p.remotIntfId, frame: Buffer.from(p.frame) }); return true; } },
      wireFrames: (p: Packet) => { got.push({ id: p.remotIntfId, frame: Buffer.from(p.frame) }); },
    });
    const c = jsClient(WireProtocol, `127.0.0.1:${s.port}`);
    const frame = (n: number, len: number) => Buffer.alloc(len, n);
    assert.deepEqual(await jsCall(c, 'SendToOnce', { remot_intf_id: '9', frame: frame(9, 60) }), { response: true });
    const res = await new Promise<Obj>((resolve, reject) => {
      const stream = (c as unknown as Record<string, (cb: (e: grpc.ServiceError | null, r?: Obj) => void) => grpc.ClientWritableStream<Obj>>)
        .SendToStream!.call(c, (err, r) => (err ? reject(err) : resolve(r!)));
      for (let i = 1; i <= 50; i++) stream.write({ remot_intf_id: String(2 ** 40 + i), frame: frame(i, i === 50 ? 9000 : 64 + i) });
      stream.end();
    });
    assert.deepEqual(res, { response: true });
    assert.equal(got.length, 51);
    assert.deepEqual(got[0], { id: 9n, frame: frame(9, 60) });
    for (let i = 1; i <= 50; i++) {
      assert.equal(got[i]!.id, BigInt(2 ** 40 + i));
      assert.deepEqual(got[i]!.frame, frame(i, i === 50 ? 9000 : 64 + i));
    }
  });

  test('over [::1]', async (t) => {
    const why = await ipv6();
    if (why !== undefined) { t.skip(`no IPv6 on loopback here: ${why}`); return; }
    const s = await serveOurs('::1', { remote: { update: (req) => req.vni === POD.vni } });
    const c = jsClient(Remote, grpcAddress('::1', s.port));
    assert.deepEqual(await jsCall(c, 'Update', POD_WIRE), { response: true });
  });
});

describe('our client → grpc-js server', () => {
  test('Update with every field, AddGRPCWireRemote and the batch decode as grpc-js encodes them', async () => {
    const seen: Obj[] = [];
    const port = await serveTheirs('127.0.0.1', {
      Update: (call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) => { seen.push(call.request); cb(null, { response: true }); },
      AddGRPCWireRemote: (call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) => {
        seen.push(call.request);
        cb(null, { response: true, peer_intf_id: '9007199254740993' }); // 2^53 + 1
      },
      AddGRPCWiresRemoteBatch: (call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) => {
        const items = (call.request['items'] as Obj[]).map((w) => ({ response: true, peer_intf_id: w['link_uid'] }));
        cb(null, { items });
      },
    });
    const c = remoteClient(grpcAddress('127.0.0.1', port));
    closers.push(c);
    assert.equal(await c.update(POD), true);
    assert.deepEqual(seen[0], POD_WIRE);
    const wire = {
      wireIfIdOnPeerNode: 17n, peerNodeIp: '10.0.0.1', intfNameInPod: 'eth2', localPodNetNs: '/proc/9/ns/net', linkUid: 3,
      localPodName: 'r3', wireIfNameOnLocalNode: 'r3-eth2', topoNs: 'lab', localPodIp: '13.13.13.3/24',
    };
    assert.deepEqual(await c.addGrpcWireRemote(wire), { response: true, peerIntfId: 9007199254740993n });
    assert.deepEqual(seen[1], {
      wire_if_id_on_peer_node: '17', peer_node_ip: '10.0.0.1', intf_name_in_pod: 'eth2', local_pod_net_ns: '/proc/9/ns/net',
      link_uid: '3', local_pod_name: 'r3', wire_if_name_on_local_node: 'r3-eth2', topo_ns: 'lab', local_pod_ip: '13.13.13.3/24',
    });
    assert.deepEqual(await c.addGrpcWiresRemoteBatch([{ linkUid: 4 }, { linkUid: 5n }]),
      [{ response: true, peerIntfId: 4n }, { response: true, peerIntfId: 5n }]);
  });

  test("the grpc-js server's status codes reach our caller: NOT_FOUND with details, UNIMPLEMENTED for a missing method", async () => {
    const port = await serveTheirs('127.0.0.1', {
      Update: (_call: unknown, cb: grpc.sendUnaryData<Obj>) => cb({ code: grpc.status.NOT_FOUND, details: 'no such netns' }),
    });
    const address = grpcAddress('127.0.0.1', port);
    const c = remoteClient(address);
    closers.push(c);
    await assert.rejects(c.update(POD), (e: unknown) => {
      assert.ok(e instanceof GrpcCallError);
      assert.equal(e.code, Status.NOT_FOUND);
      assert.equal(e.details, 'no such netns');
      assert.equal(e.message, `gRPC meshnet.v1beta1.Remote/Update to ${address} failed: NOT_FOUND: no such netns`);
      return true;
    });
    await assert.rejects(c.grpcWireDownRemote({ linkUid: 1 }), (e: unknown) => {
      assert.ok(e instanceof GrpcCallError);
      assert.equal(e.code, Status.UNIMPLEMENTED);
      assert.equal(e.method, 'meshnet.v1beta1.Remote/GRPCWireDownRemote');
      return true;
    });
  });

  test('over [::1]', async (t) => {
    const why = await ipv6();
    if (why !== undefined) { t.skip(`no IPv6 on loopback here: ${why}`); return; }
    let seen: Obj | undefined;
    const port = await serveTheirs('::1', {
      Update: (call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) => { seen = call.request; cb(null, { response: true }); },
    });
    const c = remoteClient(grpcAddress('::1', port));
    closers.push(c);
    assert.equal(await c.update(POD), true);
    assert.deepEqual(seen, POD_WIRE);
  });
});
