// The receiving half of raw-stream.ts: WireProtocol.SendToStream parsed straight off the HTTP/2
// request, each Packet handed to `onPacket` as soon as its bytes are in, without connect's
// iterable pipeline. Input from peers: a malformed message ends the call with a gRPC error naming
// what is wrong, and nothing of it is delivered.
import type * as http2 from 'node:http2';
import type { Packet } from './types';

export const SEND_TO_STREAM_PATH = '/meshnet.v1beta1.WireProtocol/SendToStream';

class PacketParseError extends Error {
  readonly code = 'InvalidPacket';
}

function readVarint(b: Buffer, off: number, end: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (let i = off; i < end && shift < 70n; i++) {
    const byte = b[i]!;
    v |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [v, i + 1];
    shift += 7n;
  }
  throw new PacketParseError('truncated varint');
}

/** Decodes a Packet{remot_intf_id=1:int64, frame=2:bytes}; unknown fields are skipped. */
export function decodePacket(msg: Buffer): Packet {
  let id = 0n;
  let frame: Uint8Array = new Uint8Array(0);
  for (let off = 0; off < msg.length;) {
    const [tag, next] = readVarint(msg, off, msg.length);
    off = next;
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const [v, n] = readVarint(msg, off, msg.length);
      off = n;
      if (field === 1) id = BigInt.asIntN(64, v);
    } else if (wire === 2) {
      const [len, n] = readVarint(msg, off, msg.length);
      const end = n + Number(len);
      if (end > msg.length) throw new PacketParseError(`field ${field} runs past the message`);
      if (field === 2) frame = msg.subarray(n, end);
      off = end;
    } else if (wire === 1) off += 8;
    else if (wire === 5) off += 4;
    else throw new PacketParseError(`unsupported wire type ${wire} (field ${field})`);
  }
  return { remotIntfId: id, frame };
}

/** Serves one SendToStream call; answers BoolResponse{true} when the peer ends its stream. */
export function serveRawSendToStream(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, onPacket: (p: Packet) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  let failed = false;
  const finish = (status: number, message = '') => {
    if (res.headersSent) return;
    res.writeHead(200, { 'content-type': 'application/grpc+proto' });
    // BoolResponse{response: true} in a gRPC frame, then the status in trailers.
    if (status === 0) res.write(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
    res.addTrailers({ 'grpc-status': String(status), ...(message ? { 'grpc-message': encodeURIComponent(message) } : {}) });
    res.end();
  };
  req.on('data', (chunk: Buffer) => {
    if (failed) return;
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let off = 0;
    try {
      while (pending.length - off >= 5) {
        const compressed = pending[off]!;
        const len = pending.readUInt32BE(off + 1);
        if (pending.length - off - 5 < len) break;
        if (compressed !== 0) throw new PacketParseError('compressed messages are not accepted (no grpc-encoding is negotiated)');
        onPacket(decodePacket(pending.subarray(off + 5, off + 5 + len)));
        off += 5 + len;
      }
    } catch (e) {
      failed = true;
      finish(e instanceof PacketParseError ? 3 : 13, `SendToStream: ${(e as Error).message}`); // INVALID_ARGUMENT / INTERNAL
      return;
    }
    pending = off === pending.length ? Buffer.alloc(0) : pending.subarray(off);
  });
  req.on('end', () => {
    if (failed) return;
    if (pending.length > 0) finish(3, `SendToStream: ${pending.length} bytes of an incomplete message at the end of the stream`);
    else finish(0);
  });
}
