// The meshnet gRPC layer over real sockets on loopback: our server, our client.
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import * as http2 from 'node:http2';
import { memoryLogger } from '../../src/log';
import { startGrpcServer, remoteClient, grpcAddress, GrpcCallError, GrpcStatusError,
  type GrpcServer, type RemotePod, type WireDef, type CallContext, type EndRef, Status } from '../../src/grpc/index';

const servers: GrpcServer[] = [];
const clients: { close(): void }[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(opts: Omit<Parameters<typeof startGrpcServer>[0], 'host' | 'port'> & { host?: string }): Promise<GrpcServer> {
  const s = await startGrpcServer({ host: '127.0.0.1', port: 0, ...opts });
  servers.push(s);
  return s;
}
function client(address: string, timeoutMs?: number) {
  const c = remoteClient(address, timeoutMs === undefined ? {} : { timeoutMs });
  clients.push(c);
  return c;
}
async function rejectsWith(p: Promise<unknown>, check: (e: GrpcCallError) => void): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof GrpcCallError, `expected GrpcCallError, got ${String(e)}`);
    check(e);
    return true;
  });
}

const POD: RemotePod = {
  netNs: '/var/run/netns/cni-1234',
  intfName: 'eth1',
  intfIp: '12.12.12.1/24',
  peerVtep: '10.0.0.2',
  kubeNs: 'default',
  vni: 2n ** 62n + 5001n, // beyond Number.MAX_SAFE_INTEGER: must travel as a real int64
  nodeIntf: 'ens3',
};

describe('Remote over gRPC', () => {
  test('Update carries every RemotePod field, int64 vni included', async () => {
    const seen: RemotePod[] = [];
    const s = await serve({ remote: { update: async (req) => { seen.push(req); return true; } } });
    const c = client(grpcAddress('127.0.0.1', s.port));
    assert.equal(await c.update(POD), true);
    assert.equal(seen.length, 1);
    const got = seen[0]!;
    assert.deepEqual({
      netNs: got.netNs, intfName: got.intfName, intfIp: got.intfIp, peerVtep: got.peerVtep,
      kubeNs: got.kubeNs, vni: got.vni, nodeIntf: got.nodeIntf,
    }, POD);
    assert.equal(typeof got.vni, 'bigint');
  });

  test('a number is accepted for int64 and absent fields arrive as proto3 defaults', async () => {
    const seen: RemotePod[] = [];
    const s = await serve({ remote: { update: (req) => { seen.push(req); return false; } } });
    const c = client(grpcAddress('127.0.0.1', s.port));
    assert.equal(await c.update({ intfName: 'eth2', vni: 5002 }), false);
    assert.equal(seen[0]!.vni, 5002n);
    assert.equal(seen[0]!.netNs, '');
    assert.equal(seen[0]!.nodeIntf, '');
  });

  test('a non-integer int64 is refused before anything is sent, naming the field', async () => {
    let calls = 0;
    const s = await serve({ remote: { update: () => { calls++; return true; } } });
    const c = client(grpcAddress('127.0.0.1', s.port));
    await assert.rejects(c.update({ vni: 1.5 }), /RemotePod\.vni: expected an integer/);
    await assert.rejects(c.update({ vni: 2n ** 63n }), /RemotePod\.vni: .* outside the int64 range/);
    assert.equal(calls, 0);
  });

  test('AddGRPCWireRemote, GRPCWireDownRemote and the KNE batch carry WireDef and int64 ids', async () => {
    const wires: WireDef[] = [];
    const s = await serve({
      remote: {
        addGrpcWireRemote: async (w) => { wires.push(w); return { response: true, peerIntfId: w.linkUid + 1000n }; },
        grpcWireDownRemote: async (w) => w.linkUid === 7n,
        addGrpcWiresRemoteBatch: async (items) => items.map((w, i) => ({ response: i % 2 === 0, peerIntfId: Number(w.linkUid) })),
      },
    });
    const c = client(grpcAddress('127.0.0.1', s.port));
    const def = {
      wireIfIdOnPeerNode: 42n, peerNodeIp: '10.0.0.1', intfNameInPod: 'eth3', localPodNetNs: '/proc/1/ns/net',
      linkUid: 7, localPodName: 'r2', wireIfNameOnLocalNode: 'r2-eth3', topoNs: 'lab', localPodIp: '23.23.23.2/24',
    };
    assert.deepEqual(await c.addGrpcWireRemote(def), { response: true, peerIntfId: 1007n });
    const w = wires[0]!;
    assert.deepEqual({
      wireIfIdOnPeerNode: w.wireIfIdOnPeerNode, peerNodeIp: w.peerNodeIp, intfNameInPod: w.intfNameInPod,
      localPodNetNs: w.localPodNetNs, linkUid: w.linkUid, localPodName: w.localPodName,
      wireIfNameOnLocalNode: w.wireIfNameOnLocalNode, topoNs: w.topoNs, localPodIp: w.localPodIp,
    }, { ...def, linkUid: 7n });
    assert.equal(await c.grpcWireDownRemote(def), true);
    assert.equal(await c.grpcWireDownRemote({ ...def, linkUid: 8 }), false);
    assert.deepEqual(await c.addGrpcWiresRemoteBatch([{ linkUid: 1 }, { linkUid: 2 }, { linkUid: 3 }]), [
      { response: true, peerIntfId: 1n }, { response: false, peerIntfId: 2n }, { response: true, peerIntfId: 3n },
    ]);
  });

  test('a method without a handler answers UNIMPLEMENTED, and the error names peer and method', async () => {
    const s = await serve({ remote: { update: () => true } });
    const address = grpcAddress('127.0.0.1', s.port);
    const c = client(address);
    await rejectsWith(c.grpcWireDownRemote({ linkUid: 1 }), (e) => {
      assert.equal(e.code, Status.UNIMPLEMENTED);
      assert.equal(e.code, 12);
      assert.equal(e.codeName, 'UNIMPLEMENTED');
      assert.equal(e.peer, address);
      assert.equal(e.method, 'meshnet.v1beta1.Remote/GRPCWireDownRemote');
      assert.match(e.message, new RegExp(`meshnet\\.v1beta1\\.Remote/GRPCWireDownRemote to 127\\.0\\.0\\.1:${s.port} failed: UNIMPLEMENTED`));
    });
  });

  test('a handler that throws answers INTERNAL with its message; GrpcStatusError picks the code', async () => {
    const logged: string[] = [];
    const s = await serve({
      log: memoryLogger(logged),
      remote: {
        update: async () => { throw new Error('netns /var/run/netns/x is gone'); },
        grpcWireDownRemote: async () => { throw new GrpcStatusError(Status.NOT_FOUND, 'no wire 9 in lab'); },
      },
    });
    const c = client(grpcAddress('127.0.0.1', s.port));
    await rejectsWith(c.update(POD), (e) => {
      assert.equal(e.code, Status.INTERNAL);
      assert.equal(e.details, 'netns /var/run/netns/x is gone');
      assert.match(e.message, /Remote\/Update .* failed: INTERNAL: netns \/var\/run\/netns\/x is gone/);
    });
    await rejectsWith(c.grpcWireDownRemote({ linkUid: 9 }), (e) => {
      assert.equal(e.code, Status.NOT_FOUND);
      assert.equal(e.details, 'no wire 9 in lab');
    });
    assert.ok(logged.some((l) => l.includes('Remote/Update failed: INTERNAL: netns /var/run/netns/x is gone')), logged.join('\n'));
  });

  test('a handler returning the wrong type answers INTERNAL naming the method, not a default value', async () => {
    const s = await serve({ remote: { update: (() => undefined) as unknown as () => boolean } });
    const c = client(grpcAddress('127.0.0.1', s.port));
    await rejectsWith(c.update(POD), (e) => {
      assert.equal(e.code, Status.INTERNAL);
      assert.match(e.details, /meshnet\.v1beta1\.Remote\/Update handler returned undefined, expected boolean/);
    });
  });

  test('deadline exceeded against a handler that never answers names the peer and method; the handler sees the abort', async () => {
    let aborted: Promise<void> | undefined;
    const s = await serve({
      remote: {
        update: (_req, call: CallContext) => {
          aborted = new Promise((resolve) => call.signal.addEventListener('abort', () => resolve(), { once: true }));
          return new Promise<boolean>(() => {});
        },
      },
    });
    const address = grpcAddress('127.0.0.1', s.port);
    const c = client(address, 150);
    const t0 = performance.now();
    await rejectsWith(c.update(POD), (e) => {
      assert.equal(e.code, Status.DEADLINE_EXCEEDED);
      assert.equal(e.peer, address);
      assert.match(e.message, new RegExp(`Remote/Update to 127\\.0\\.0\\.1:${s.port} failed: DEADLINE_EXCEEDED`));
    });
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 140 && elapsed < 2000, `deadline after ${elapsed.toFixed(0)} ms`);
    assert.ok(aborted, 'handler was called');
    await aborted; // the server-side signal fires too (deadline propagated as grpc-timeout)
    // A per-call timeout overrides the client default (5 s here).
    const t1 = performance.now();
    await rejectsWith(client(address).update(POD, { timeoutMs: 50 }), (e) => assert.equal(e.code, Status.DEADLINE_EXCEEDED));
    assert.ok(performance.now() - t1 < 2000);
  });

  test('a peer that is not listening: UNAVAILABLE naming the peer', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const address = grpcAddress('127.0.0.1', port);
    const c = client(address, 2000);
    await rejectsWith(c.update(POD), (e) => {
      assert.equal(e.code, Status.UNAVAILABLE);
      assert.match(e.message, new RegExp(`to 127\\.0\\.0\\.1:${port} failed: UNAVAILABLE`));
    });
  });

  test('close() returns promptly with a call in flight, and the caller sees an error', async () => {
    const s = await startGrpcServer({ host: '127.0.0.1', port: 0, closeGraceMs: 100, remote: { update: () => new Promise<boolean>(() => {}) } });
    // (connect keeps the server-side deadline timer of an abandoned handler until it fires, which
    // holds the test process open that long: keep it short.)
    const c = client(grpcAddress('127.0.0.1', s.port), 1000);
    const pending = c.update(POD);
    const outcome = pending.then(() => undefined, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await s.close();
    await s.close(); // idempotent
    assert.ok(performance.now() - t0 < 1000, 'close took too long');
    const e = await outcome;
    assert.ok(e instanceof GrpcCallError, `expected GrpcCallError, got ${String(e)}`);
    assert.notEqual(e.code, Status.DEADLINE_EXCEEDED);
  });

  test('listening on a port in use fails with an error naming host:port', async () => {
    const s = await serve({});
    await assert.rejects(startGrpcServer({ host: '127.0.0.1', port: s.port }), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${s.port}: .*EADDRINUSE`));
  });
});

describe('IPv6', () => {
  test('grpcAddress brackets IPv6', () => {
    assert.equal(grpcAddress('::1', 51111), '[::1]:51111');
  });

  test('a round trip over [::1]', async (t) => {
    let s: GrpcServer;
    try {
      s = await serve({ host: '::1', remote: { update: (req) => req.vni === POD.vni } });
    } catch (err) {
      t.skip(`no IPv6 on loopback here: ${(err as Error).message}`);
      return;
    }
    const address = grpcAddress('::1', s.port);
    assert.equal(address, `[::1]:${s.port}`);
    assert.equal(await client(address).update(POD), true);
  });
});

describe(':authority (Node http2 sends IPv6 hosts unbracketed)', () => {
  test('our client sends a bracketed IPv6 authority', async (t) => {
    const seen: string[] = [];
    const raw = http2.createServer((req, res) => {
      seen.push(String(req.headers[':authority']));
      res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'raw' });
      res.end();
    });
    try {
      await new Promise<void>((resolve, reject) => { raw.once('error', reject); raw.listen(0, '::1', resolve); });
    } catch (err) {
      t.skip(`no IPv6 on loopback here: ${(err as Error).message}`);
      return;
    }
    t.after(() => new Promise<void>((r) => raw.close(() => r())));
    const port = (raw.address() as { port: number }).port;
    const c = client(grpcAddress('::1', port));
    await rejectsWith(c.update(POD), (e) => assert.equal(e.code, Status.UNIMPLEMENTED));
    c.close();
    assert.deepEqual(seen, [`[::1]:${port}`]);
  });

  test('a request with a malformed :authority is answered, and the server keeps serving', async () => {
    const s = await serve({ remote: { update: () => true } });
    const statuses: string[] = [];
    for (const authority of ['::1:51111', 'fe80::1', '[::1']) {
      const session = http2.connect(`http://127.0.0.1:${s.port}`);
      const frame = Buffer.alloc(5); // an empty RemotePod, uncompressed
      const req = session.request({
        ':method': 'POST', ':path': '/meshnet.v1beta1.Remote/Update', ':authority': authority,
        'content-type': 'application/grpc', te: 'trailers',
      });
      req.end(frame);
      const status = await new Promise<string>((resolve, reject) => {
        let st = '';
        req.on('response', (h) => { if (h['grpc-status'] !== undefined) st = String(h['grpc-status']); });
        req.on('trailers', (h) => { st = String(h['grpc-status']); });
        req.on('error', reject);
        req.on('close', () => resolve(st));
        req.resume();
      });
      session.close();
      statuses.push(status);
    }
    assert.deepEqual(statuses, ['0', '0', '0']);
    assert.equal(await client(grpcAddress('127.0.0.1', s.port)).update(POD), true);
  });
});

describe('meshnet.ext.v1.RemoteExt (our extension service, same port)', () => {
  test('RemoveEnd carries every EndRef field and answers removed; without a handler it is UNIMPLEMENTED', async () => {
    const seen: EndRef[] = [];
    const s = await serve({ ext: { removeEnd: (req) => { seen.push(req); return req.intfName === 'eth1'; } } });
    const c = client(grpcAddress('127.0.0.1', s.port));
    assert.equal(await c.removeEnd({ netNs: '/var/run/netns/x', intfName: 'eth1', vni: 5001, peerVtep: '192.0.2.11' }), true);
    assert.equal(await c.removeEnd({ netNs: '/var/run/netns/x', intfName: 'eth9', vni: 5009, peerVtep: '192.0.2.11' }), false);
    assert.deepEqual(seen[0], { ...seen[0], netNs: '/var/run/netns/x', intfName: 'eth1', vni: 5001n, peerVtep: '192.0.2.11' });
    // A server without the extension (an upstream daemon, say) answers UNIMPLEMENTED, named.
    const bare = await serve({ remote: { update: () => true } });
    await rejectsWith(client(grpcAddress('127.0.0.1', bare.port)).removeEnd({ intfName: 'eth1', vni: 1 }), (e) => {
      assert.equal(e.code, Status.UNIMPLEMENTED);
      assert.match(e.message, /meshnet\.ext\.v1\.RemoteExt\/RemoveEnd/);
    });
  });
});
