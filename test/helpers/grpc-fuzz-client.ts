// A hostile gRPC client for the fuzz test: raw HTTP/2 (not a gRPC library, so nothing is kept
// well formed for us) against every method of meshnetd's port: random bytes, random and mutated
// protobuf in well-formed gRPC framing, another method's message, oversized length prefixes,
// compressed flags without an encoding, wrong content types, streams cut mid-message, and raw TCP
// garbage instead of HTTP/2. Run as `node --import tsx grpc-fuzz-client.ts HOST:PORT SEED`; prints
// one JSON line: requests sent and how they ended (grpc-status counts, resets, connection errors).
import * as http2 from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import * as pb from '../../src/grpc/gen/meshnet/v1beta1/meshnet_pb';
import * as ext from '../../src/grpc/gen/meshnet/ext/v1/ext_pb';

const [target = '127.0.0.1:51111', seedArg = '1'] = process.argv.slice(2);
let seed = Number(seedArg) >>> 0 || 1;
/** xorshift32: the same seed makes the same requests (a failure can be replayed). */
const rand = (n: number) => {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
};
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => rand(256)));

/** A well-formed message of each method's request type (the base for mutations and type confusion). */
const VALID: Record<string, Uint8Array> = {
  '/meshnet.v1beta1.Local/Get': toBinary(pb.PodQuerySchema, create(pb.PodQuerySchema, { name: 'r1', kubeNs: 'default' })),
  '/meshnet.v1beta1.Local/SetAlive': toBinary(pb.PodSchema, create(pb.PodSchema, { name: 'r1', kubeNs: 'default', srcIp: '192.0.2.11', netNs: '/var/run/netns/x' })),
  '/meshnet.v1beta1.Local/SkipReverse': toBinary(pb.SkipQuerySchema, create(pb.SkipQuerySchema, { pod: 'r1', peer: 'r2', kubeNs: 'default' })),
  '/meshnet.v1beta1.Local/Skip': toBinary(pb.SkipQuerySchema, create(pb.SkipQuerySchema, { pod: 'r1', peer: 'r2', kubeNs: 'default' })),
  '/meshnet.v1beta1.Local/IsSkipped': toBinary(pb.SkipQuerySchema, create(pb.SkipQuerySchema, { pod: 'r1', peer: 'r2', kubeNs: 'default' })),
  '/meshnet.v1beta1.Local/GRPCWireExists': toBinary(pb.WireDefSchema, create(pb.WireDefSchema, { localPodNetNs: '/var/run/netns/x', linkUid: 1n })),
  '/meshnet.v1beta1.Local/AddGRPCWireLocal': toBinary(pb.WireDefSchema, create(pb.WireDefSchema, { intfNameInPod: 'eth9', wireIfNameOnLocalNode: 'x', peerNodeIp: '192.0.2.12', wireIfIdOnPeerNode: 7n })),
  '/meshnet.v1beta1.Local/RemGRPCWire': toBinary(pb.WireDefSchema, create(pb.WireDefSchema, { topoNs: 'default', localPodName: 'nobody' })),
  '/meshnet.v1beta1.Local/GenerateNodeInterfaceName': toBinary(pb.GenerateNodeInterfaceNameRequestSchema, create(pb.GenerateNodeInterfaceNameRequestSchema, { podIntfName: 'eth1', podName: 'r1' })),
  '/meshnet.v1beta1.Remote/Update': toBinary(pb.RemotePodSchema, create(pb.RemotePodSchema, { netNs: '/var/run/netns/x', intfName: 'eth1', peerVtep: '192.0.2.12', kubeNs: 'default', vni: 10001n })),
  '/meshnet.v1beta1.Remote/AddGRPCWireRemote': toBinary(pb.WireDefSchema, create(pb.WireDefSchema, { topoNs: 'default', localPodName: 'r1', intfNameInPod: 'eth9', peerNodeIp: '192.0.2.12', wireIfIdOnPeerNode: 7n, linkUid: 1n })),
  '/meshnet.v1beta1.Remote/GRPCWireDownRemote': toBinary(pb.WireDefSchema, create(pb.WireDefSchema, { topoNs: 'default', localPodName: 'nobody', intfNameInPod: 'eth9' })),
  '/meshnet.v1beta1.Remote/AddGRPCWiresRemoteBatch': toBinary(pb.WireDefBatchSchema, create(pb.WireDefBatchSchema, { items: [{ topoNs: 'default', localPodName: 'nobody', intfNameInPod: 'eth9' }] })),
  '/meshnet.v1beta1.WireProtocol/SendToOnce': toBinary(pb.PacketSchema, create(pb.PacketSchema, { remotIntfId: 12345n, frame: new Uint8Array(60) })),
  '/meshnet.v1beta1.WireProtocol/SendToStream': toBinary(pb.PacketSchema, create(pb.PacketSchema, { remotIntfId: 12345n, frame: new Uint8Array(60) })),
  '/meshnet.ext.v1.RemoteExt/RemoveEnd': toBinary(ext.EndRefSchema, create(ext.EndRefSchema, { netNs: '/var/run/netns/x', intfName: 'eth1', vni: 10001n, peerVtep: '192.0.2.12' })),
};
const METHODS = Object.keys(VALID);

const frame = (msg: Uint8Array, flag = 0, len = msg.length) => {
  const h = Buffer.alloc(5);
  h[0] = flag;
  h.writeUInt32BE(len >>> 0, 1);
  return Buffer.concat([h, msg]);
};
const mutate = (m: Uint8Array) => {
  const b = Buffer.from(m);
  for (let i = 0, n = 1 + rand(4); i < n && b.length > 0; i++) b[rand(b.length)] = rand(256);
  return b.length > 0 && rand(3) === 0 ? b.subarray(0, rand(b.length)) : b;
};

/** The request bodies of one method: [what, body, content-type, cut mid-way]. */
function variants(method: string): [string, Buffer, string, boolean][] {
  const valid = VALID[method]!;
  const other = VALID[METHODS[rand(METHODS.length)]!]!;
  const ct = 'application/grpc+proto';
  return [
    ['random bytes', bytes(rand(2048)), ct, false],
    ['random protobuf', frame(bytes(1 + rand(512))), ct, false],
    ['mutated message', frame(mutate(valid)), ct, false],
    ['another method\'s message', frame(other), ct, false],
    ['length prefix past the body', frame(valid, 0, valid.length + 1 + rand(1 << 20)), ct, false],
    ['length prefix of 4 GiB', frame(valid, 0, 0xffffffff), ct, false],
    ['compressed flag without grpc-encoding', frame(valid, 1), ct, false],
    ['wrong content type', frame(valid), 'text/plain', false],
    ['stream cut mid-message', frame(valid, 0, valid.length + 100), ct, true],
    ['two messages to a unary method', Buffer.concat([frame(valid), frame(valid)]), ct, false],
    ['a large body (8 MiB)', frame(Buffer.alloc(8 << 20, 0x41)), ct, false],
  ];
}

const outcome: Record<string, number> = {};
const note = (k: string) => { outcome[k] = (outcome[k] ?? 0) + 1; };

function request(session: http2.ClientHttp2Session, method: string, body: Buffer, contentType: string, cut: boolean, what = ''): Promise<void> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': method, 'content-type': contentType, te: 'trailers' });
    let status: string | undefined;
    const timer = setTimeout(() => { note('timeout'); req.close(http2.constants.NGHTTP2_CANCEL); }, 5000);
    req.on('response', (h) => { if (h['grpc-status'] !== undefined) status = String(h['grpc-status']); });
    req.on('trailers', (t) => { if (t['grpc-status'] !== undefined) status = String(t['grpc-status']); });
    req.on('data', () => undefined);
    req.on('error', () => undefined);
    req.on('close', () => {
      clearTimeout(timer);
      note(status !== undefined ? `grpc-status ${status}` : `reset ${req.rstCode}`);
      if (process.env.FUZZ_DETAIL) note(`${what}: ${status !== undefined ? `grpc-status ${status}` : `reset ${req.rstCode}`}`);
      resolve();
    });
    if (cut) {
      req.write(body.subarray(0, Math.max(1, body.length - 50)));
      setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), 5);
    } else {
      req.end(body);
    }
  });
}

function rawTcp(payload: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
    const s = tcpConnect({ host, port }, () => s.end(payload));
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.setTimeout(3000, () => s.destroy());
    s.on('close', () => { note('raw tcp closed'); resolve(); });
  });
}

async function main(): Promise<void> {
  let requests = 0;
  for (const method of METHODS) {
    const session = http2.connect(`http://${target}`);
    session.on('error', () => note('session error'));
    for (const [what, body, ct, cut] of variants(method)) {
      if (session.destroyed || session.closed) break;
      await request(session, method, body, ct, cut, what);
      requests++;
    }
    session.destroy();
  }
  // Not HTTP/2 at all, and HTTP/2's preface followed by garbage frames.
  await rawTcp(bytes(4096));
  await rawTcp(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), bytes(4096)]));
  await rawTcp(Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'));
  process.stdout.write(`${JSON.stringify({ requests, outcome })}\n`);
}

void main();
