// The WireProtocol client (grpc-wire frames between daemons): our server and a grpc-js server
// (standing in for grpc-go peers) receive every frame of a client stream intact, in order, with
// the receiver's wire id; a full queue drops and counts instead of blocking the dataplane.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startGrpcServer, wireClient, grpcAddress, GrpcCallError, type GrpcServer, type Packet, Status } from '../../src/grpc/index';

const servers: GrpcServer[] = [];
const clients: { close(): void }[] = [];
const jsServers: grpc.Server[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(jsServers.map((s) => new Promise<void>((r) => s.tryShutdown(() => r()))));
});

const frame = (i: number, size: number) => {
  const b = Buffer.alloc(size, i & 0xff);
  b.writeUInt32BE(i, 0);
  return new Uint8Array(b);
};

test('a stream to our server: 2,000 frames (60 B to 9,000 B) arrive intact and in order; end() gets the answer', async () => {
  const got: Packet[] = [];
  const s = await startGrpcServer({ host: '127.0.0.1', port: 0, wireFrames: (p) => got.push(p) });
  servers.push(s);
  const c = wireClient(grpcAddress('127.0.0.1', s.port));
  clients.push(c);
  const st = c.openStream();
  const sizes = [60, 1514, 9000];
  for (let i = 0; i < 2000; i++) assert.equal(st.send({ remotIntfId: 2n ** 40n + BigInt(i % 7), frame: frame(i, sizes[i % 3]!) }), true);
  assert.equal(await st.end(), true);
  assert.equal(got.length, 2000);
  got.forEach((p, i) => {
    assert.equal(p.remotIntfId, 2n ** 40n + BigInt(i % 7));
    assert.equal(p.frame.length, sizes[i % 3]);
    assert.equal(Buffer.from(p.frame).readUInt32BE(0), i);
  });
  assert.deepEqual(st.stats, { queued: 2000, dropped: 0, pending: 0 });
  assert.equal(st.send({ remotIntfId: 1n, frame: frame(0, 60) }), false, 'an ended stream refuses frames');
  assert.equal(st.stats.dropped, 1);
});

test('a full queue drops and counts instead of blocking', async () => {
  const s = await startGrpcServer({ host: '127.0.0.1', port: 0, wireFrames: () => undefined });
  servers.push(s);
  const c = wireClient(grpcAddress('127.0.0.1', s.port));
  clients.push(c);
  const st = c.openStream({ queue: 10 });
  let accepted = 0;
  for (let i = 0; i < 50; i++) if (st.send({ remotIntfId: 1n, frame: frame(i, 100) })) accepted++;
  // Sent synchronously: nothing has been pulled off the queue yet.
  assert.equal(accepted, 10);
  assert.equal(st.stats.dropped, 40);
  assert.equal(await st.end(), true);
});

test('grpc-js server (a grpc-go stand-in) receives our stream and SendToOnce; a peer without the method is named in the error', async () => {
  const def = protoLoader.loadSync(join(import.meta.dirname, '../../proto/meshnet/v1beta1/meshnet.proto'), { keepCase: true, longs: String, defaults: true });
  const api = grpc.loadPackageDefinition(def) as unknown as { meshnet: { v1beta1: Record<string, { service: grpc.ServiceDefinition }> } };
  const got: { remot_intf_id: string; frame: Buffer }[] = [];
  const js = new grpc.Server();
  jsServers.push(js);
  js.addService(api.meshnet.v1beta1.WireProtocol!.service, {
    SendToStream: (call: grpc.ServerReadableStream<{ remot_intf_id: string; frame: Buffer }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      call.on('data', (p) => got.push(p));
      call.on('end', () => cb(null, { response: true }));
    },
    SendToOnce: (call: grpc.ServerUnaryCall<{ remot_intf_id: string; frame: Buffer }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      got.push(call.request);
      cb(null, { response: true });
    },
  });
  const port = await new Promise<number>((r, j) => js.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  const c = wireClient(grpcAddress('127.0.0.1', port));
  clients.push(c);
  const st = c.openStream();
  for (let i = 0; i < 100; i++) st.send({ remotIntfId: 5000 + i, frame: frame(i, 1514) });
  assert.equal(await st.end(), true);
  assert.equal(await c.sendToOnce({ remotIntfId: 2n ** 53n + 1n, frame: frame(7, 64) }), true);
  assert.equal(got.length, 101);
  assert.deepEqual(got.slice(0, 100).map((p) => [p.remot_intf_id, p.frame.length, p.frame.readUInt32BE(0)]),
    Array.from({ length: 100 }, (_, i) => [String(5000 + i), 1514, i]));
  assert.equal(got[100]!.remot_intf_id, String(2n ** 53n + 1n));

  const bare = await startGrpcServer({ host: '127.0.0.1', port: 0 });
  servers.push(bare);
  const cb = wireClient(grpcAddress('127.0.0.1', bare.port));
  clients.push(cb);
  await assert.rejects(cb.sendToOnce({ remotIntfId: 1n, frame: frame(0, 60) }), (e: unknown) =>
    e instanceof GrpcCallError && e.code === Status.UNIMPLEMENTED && /WireProtocol\/SendToOnce/.test(e.message));
});

test('the raw receive path (wireFrames): our stream and a grpc-js stream arrive intact; a malformed message is refused naming what is wrong', async () => {
  const got: Packet[] = [];
  const s = await startGrpcServer({ host: '127.0.0.1', port: 0, wireFrames: (p) => got.push({ remotIntfId: p.remotIntfId, frame: Uint8Array.from(p.frame) }) });
  servers.push(s);
  // Ours.
  const c = wireClient(grpcAddress('127.0.0.1', s.port));
  clients.push(c);
  const st = c.openStream();
  const sizes = [60, 1514, 9000, 65000];
  for (let i = 0; i < 400; i++) st.send({ remotIntfId: 2n ** 62n + BigInt(i), frame: frame(i, sizes[i % 4]!) });
  assert.equal(await st.end(), true);
  assert.equal(got.length, 400);
  got.forEach((p, i) => {
    assert.equal(p.remotIntfId, 2n ** 62n + BigInt(i));
    assert.equal(p.frame.length, sizes[i % 4]);
    assert.equal(Buffer.from(p.frame).readUInt32BE(0), i);
  });
  // grpc-js (a grpc-go stand-in) as the sender.
  got.length = 0;
  const def = protoLoader.loadSync(join(import.meta.dirname, '../../proto/meshnet/v1beta1/meshnet.proto'), { keepCase: true, longs: String, defaults: true });
  const WP = (grpc.loadPackageDefinition(def) as unknown as { meshnet: { v1beta1: { WireProtocol: grpc.ServiceClientConstructor } } }).meshnet.v1beta1.WireProtocol;
  const js = new WP(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { SendToStream: (cb: (e: Error | null, r: { response: boolean }) => void) => grpc.ClientWritableStream<unknown> };
  clients.push(js);
  const reply = await new Promise<{ response: boolean }>((resolve, reject) => {
    const call = js.SendToStream!.call(js, (e: Error | null, r: { response: boolean }) => (e ? reject(e) : resolve(r)));
    for (let i = 0; i < 50; i++) call.write({ remot_intf_id: String(7000 + i), frame: Buffer.from(frame(i, 1514)) });
    call.end();
  });
  assert.deepEqual(reply, { response: true });
  assert.deepEqual(got.map((p) => [p.remotIntfId, p.frame.length, Buffer.from(p.frame).readUInt32BE(0)]),
    Array.from({ length: 50 }, (_, i) => [BigInt(7000 + i), 1514, i]));
  // A message whose frame field claims more bytes than it has.
  const http2 = await import('node:http2');
  const session = http2.connect(`http://127.0.0.1:${s.port}`);
  const req = session.request({ ':method': 'POST', ':path': '/meshnet.v1beta1.WireProtocol/SendToStream', 'content-type': 'application/grpc', te: 'trailers' });
  const trailers = new Promise<Record<string, unknown>>((resolve) => req.on('trailers', (t) => resolve(t)));
  req.end(Buffer.from([0, 0, 0, 0, 4, 0x12, 0x7f, 0x01, 0x02]));
  req.resume();
  const t = await trailers;
  session.close();
  assert.equal(t['grpc-status'], '3');
  assert.match(decodeURIComponent(String(t['grpc-message'])), /field 2 runs past the message/);
});
