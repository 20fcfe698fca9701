// A client of a peer daemon's WireProtocol service: frames of grpc-wire links, each a Packet
// {remot_intf_id, frame} addressed by the RECEIVER's wire id. SendToOnce is upstream's one unary
// call per frame; a WireStream is the KNE fork's way: one client stream per peer node carrying
// every wire's frames, fed from a bounded queue that drops (and counts) rather than blocking the
// dataplane when the peer or the network is slower than the pods.
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import * as pb from './gen/meshnet/v1beta1/meshnet_pb';
import { grpcBaseUrl } from './address';
import { toInit } from './codec';
import { callError } from './errors';
import { DEFAULT_WINDOW_BYTES } from './server';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Input, Packet } from './types';

type PacketInit = MessageInitShape<typeof pb.PacketSchema>;

/** Frames queued per stream before new ones are dropped (the KNE fork's figure). */
export const DEFAULT_STREAM_QUEUE = 10_000;

export interface WireStream {
  /** Queues a frame; false (and counted in `dropped`) when the queue is full or the stream ended. */
  send(packet: Input<Packet>): boolean;
  /** Frames accepted, frames dropped, frames waiting. */
  readonly stats: { queued: number; dropped: number; pending: number };
  /** Ends the stream after the queued frames and resolves with the peer's answer. */
  end(): Promise<boolean>;
  /** Resolves (or rejects, naming peer and method) when the stream is over, however it ended. */
  readonly done: Promise<boolean>;
}

export interface WireClient {
  readonly address: string;
  sendToOnce(packet: Input<Packet>, timeoutMs?: number): Promise<boolean>;
  openStream(opts?: { queue?: number }): WireStream;
  close(): void;
}

export function wireClient(address: string): WireClient {
  const baseUrl = grpcBaseUrl(address);
  const session = new Http2SessionManager(baseUrl, {}, {
    settings: { initialWindowSize: DEFAULT_WINDOW_BYTES },
    ...(baseUrl.startsWith('http://[') ? { servername: new URL(baseUrl).hostname } : {}),
  });
  // No deadline on streams: a wire's stream lives as long as its links.
  const transport = createGrpcTransport({ baseUrl, sessionManager: session, acceptCompression: [] });
  const client: Client<typeof pb.WireProtocol> = createClient(pb.WireProtocol, transport);
  const method = (m: string) => `${pb.WireProtocol.typeName}/${m}`;

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
      const limit = opts.queue ?? DEFAULT_STREAM_QUEUE;
      // A head index instead of shift(): shift() on a long array is O(n) per frame.
      let queue: PacketInit[] = [];
      let head = 0;
      const stats = { queued: 0, dropped: 0, pending: 0 };
      let ended = false;
      let wake: (() => void) | undefined;
      async function* frames(): AsyncGenerator<PacketInit> {
        for (;;) {
          if (head < queue.length) {
            const next = queue[head]!;
            queue[head++] = undefined as unknown as PacketInit; // let the frame be collected
            if (head === queue.length) {
              queue = [];
              head = 0;
            }
            stats.pending = queue.length - head;
            yield next;
            continue;
          }
          if (ended) return;
          await new Promise<void>((r) => { wake = r; });
          wake = undefined;
        }
      }
      const done = client.sendToStream(frames()).then((r) => r.response, (err: unknown) => {
        ended = true;
        throw callError(err, address, method('SendToStream'));
      });
      done.catch(() => undefined); // observed through `done`/`end()`; never an unhandled rejection
      return {
        stats,
        done,
        send(packet) {
          if (ended || queue.length - head >= limit) {
            stats.dropped++;
            return false;
          }
          queue.push(toInit(pb.PacketSchema, packet, 'Packet'));
          stats.queued++;
          stats.pending = queue.length - head;
          wake?.();
          return true;
        },
        end() {
          ended = true;
          wake?.();
          return done;
        },
      };
    },
    close() {
      session.abort();
    },
  };
}
