// A client of a peer daemon's WireProtocol service: frames of grpc-wire links, each a Packet
// {remot_intf_id, frame} addressed by the RECEIVER's wire id. SendToOnce is upstream's one unary
// call per frame (over connect); a WireStream is the KNE fork's way: one client stream per peer
// node carrying every wire's frames (written straight onto HTTP/2, see raw-stream.ts), with a
// bounded queue that drops (and counts) rather than blocking the dataplane when the peer or the
// network is slower than the pods.
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import * as pb from './gen/meshnet/v1beta1/meshnet_pb';
import { grpcBaseUrl } from './address';
import { peerConnectOptions, type TlsMaterial } from './tls';
import { toInit } from './codec';
import { callError } from './errors';
import { DEFAULT_WINDOW_BYTES } from './server';
import type { Input, Packet } from './types';
import { openRawWireStream } from './raw-stream';
import type { WireStream } from './wire-stream';

export { DEFAULT_STREAM_QUEUE } from './raw-stream';
export type { WireStream } from './wire-stream';

export interface WireClient {
  readonly address: string;
  sendToOnce(packet: Input<Packet>, timeoutMs?: number): Promise<boolean>;
  openStream(opts?: { queue?: number }): WireStream;
  /**
   * A WireStream made of SendToOnce calls, for a peer that does not serve SendToStream (upstream
   * meshnet): at most `queue` calls in flight, frames beyond that dropped and counted.
   */
  openUnaryStream(opts?: { queue?: number }): WireStream;
  close(): void;
}

/** Calls in flight towards a SendToOnce-only peer before frames are dropped. */
const UNARY_IN_FLIGHT = 256;

export function wireClient(address: string, opts: { tls?: TlsMaterial } = {}): WireClient {
  const { baseUrl, options } = peerConnectOptions(grpcBaseUrl(address), opts.tls);
  const session = new Http2SessionManager(baseUrl, {}, { settings: { initialWindowSize: DEFAULT_WINDOW_BYTES }, ...options });
  // No deadline on streams: a wire's stream lives as long as its links.
  const transport = createGrpcTransport({ baseUrl, sessionManager: session, acceptCompression: [] });
  const client: Client<typeof pb.WireProtocol> = createClient(pb.WireProtocol, transport);
  const tls = opts.tls;
  const method = (m: string) => `${pb.WireProtocol.typeName}/${m}`;
  // Streams are written straight onto HTTP/2 (raw-stream.ts), each on its own connection.
  const raw = new Set<ReturnType<typeof openRawWireStream>>();

  return {
    address,
    async sendToOnce(packet, timeoutMs = 5000) {
      try {
        return (await client.sendToOnce(toInit(pb.PacketSchema, packet, 'Packet'), { timeoutMs })).response;
      } catch (err) {
        throw callError(err, address, method('SendToOnce'));
      }
    },
    openStream(opts = {}) {
      const stream = openRawWireStream(address, { ...opts, ...(tls ? { tls } : {}) });
      raw.add(stream);
      void stream.done.finally(() => raw.delete(stream)).catch(() => undefined);
      return stream;
    },
    openUnaryStream(opts = {}) {
      const limit = opts.queue ?? UNARY_IN_FLIGHT;
      const stats = { queued: 0, dropped: 0, pending: 0 };
      let ended = false;
      let finish!: (v: boolean) => void;
      const done = new Promise<boolean>((r) => { finish = r; });
      return {
        stats,
        done,
        send(packet) {
          if (ended || stats.pending >= limit) {
            stats.dropped++;
            return false;
          }
          stats.queued++;
          stats.pending++;
          client.sendToOnce(toInit(pb.PacketSchema, packet, 'Packet'), { timeoutMs: 5000 })
            .then((r) => { if (!r.response) stats.dropped++; }, () => { stats.dropped++; })
            .finally(() => { stats.pending--; });
          return true;
        },
        end() {
          ended = true;
          finish(true);
          return done;
        },
      };
    },
    close() {
      for (const r of raw) r.close();
      raw.clear();
      session.abort();
    },
  };
}
