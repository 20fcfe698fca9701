// The receiving half of raw-stream.ts: WireProtocol.SendToStream parsed straight off the HTTP/2
// request (messages by packet-codec.ts), each Packet handed to `onPacket` as soon as its bytes
// are in, without connect's iterable pipeline. Input from peers: a malformed message ends the
// call with a gRPC error naming what is wrong, and nothing of it is delivered.
import type * as http2 from 'node:http2';
import { GRPC_PREFIX_BYTES, PacketParseError, boolResponseFrame, decodePacket } from './packet-codec';
import type { Packet } from './types';
import { encodeGrpcMessage } from './status-message';
import { MeshnetError } from '../errors';

export const SEND_TO_STREAM_PATH = '/meshnet.v1beta1.WireProtocol/SendToStream';

/**
 * The largest Packet message taken: one frame (a TSO super-frame is at most 64 KiB, plus its
 * virtio-net header) and its id, with room to spare. A bigger length prefix is refused at once,
 * before its bytes are buffered: a peer cannot make the daemon hold gigabytes.
 */
export const MAX_PACKET_MESSAGE_BYTES = 1 << 20;

/** Serves one SendToStream call; answers BoolResponse{true} when the peer ends its stream. */
class TooLarge extends MeshnetError {
  readonly code = 'TooLarge';
}

export function serveRawSendToStream(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, onPacket: (p: Packet) => void, shutdown?: AbortSignal): void {
  // What has arrived and is not parsed yet, as the chunks HTTP/2 handed us: a message spread over
  // several chunks is joined once, when it is complete (joining at every chunk copied a 64 KB
  // super-frame up to four times: bench hops / throughput).
  let chunks: Buffer[] = [];
  let total = 0;
  const flatten = () => {
    if (chunks.length > 1) chunks = [Buffer.concat(chunks, total)];
  };
  let failed = false;
  const finish = (status: number, message = '') => {
    if (res.headersSent) return;
    res.writeHead(200, { 'content-type': 'application/grpc+proto' });
    // BoolResponse{response: true} in a gRPC frame, then the status in trailers.
    if (status === 0) res.write(boolResponseFrame(true));
    res.addTrailers({ 'grpc-status': String(status), ...(message ? { 'grpc-message': encodeGrpcMessage(message) } : {}) });
    res.end();
  };
  // A stream lasts as long as its peer's wires: the server closing ends it at once (UNAVAILABLE,
  // so the peer shows NO-CARRIER and probes), rather than waiting out the close grace.
  const onShutdown = () => {
    failed = true;
    finish(14, 'SendToStream: the server is shutting down');
  };
  if (shutdown?.aborted) onShutdown();
  else if (shutdown) {
    shutdown.addEventListener('abort', onShutdown, { once: true });
    res.once('close', () => shutdown.removeEventListener('abort', onShutdown));
  }
  if (!failed && !/^application\/grpc(\+proto)?$/.test(String(req.headers['content-type'] ?? ''))) {
    failed = true;
    finish(3, `SendToStream: content-type must be application/grpc or application/grpc+proto, got ${JSON.stringify(req.headers['content-type'] ?? '')}`);
  }
  req.on('data', (chunk: Buffer) => {
    if (failed) return;
    chunks.push(chunk);
    total += chunk.length;
    try {
      while (total >= GRPC_PREFIX_BYTES) {
        if (chunks[0]!.length < GRPC_PREFIX_BYTES) flatten();
        const head = chunks[0]!;
        const compressed = head[0]!;
        const len = head.readUInt32BE(1);
        if (len > MAX_PACKET_MESSAGE_BYTES) throw new TooLarge(`a message of ${len} bytes is over the limit of ${MAX_PACKET_MESSAGE_BYTES}`);
        const size = GRPC_PREFIX_BYTES + len;
        if (total < size) break;
        if (compressed !== 0) throw new PacketParseError('compressed messages are not accepted (no grpc-encoding is negotiated)');
        if (chunks[0]!.length < size) flatten();
        const buf = chunks[0]!;
        onPacket(decodePacket(buf.subarray(GRPC_PREFIX_BYTES, size)));
        total -= size;
        if (buf.length === size) chunks.shift();
        else chunks[0] = buf.subarray(size);
      }
    } catch (e) {
      failed = true;
      // RESOURCE_EXHAUSTED / INVALID_ARGUMENT / INTERNAL
      finish(e instanceof TooLarge ? 8 : e instanceof PacketParseError ? 3 : 13, `SendToStream: ${(e as Error).message}`);
    }
  });
  req.on('end', () => {
    if (failed) return;
    if (total > 0) finish(3, `SendToStream: ${total} bytes of an incomplete message at the end of the stream`);
    else finish(0);
  });
}
