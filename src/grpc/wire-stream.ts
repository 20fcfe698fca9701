// One peer node's stream of grpc-wire frames, whichever way it is carried: SendToStream written
// straight onto HTTP/2 (raw-stream.ts), or SendToOnce calls for a peer that lacks the stream.
import type { Input, Packet } from './types';

export interface WireStream {
  /** Queues a frame; false (and counted in `dropped`) when the queue is full or the stream ended. */
  send(packet: Input<Packet>): boolean;
  /**
   * Queues several frames as one write (one syscall, HTTP/2 frames back to back) where the stream
   * can; returns how many were accepted. Absent: send them one by one.
   */
  sendAll?(packets: readonly Input<Packet>[]): number;
  /** Frames accepted, frames dropped, frames waiting. */
  readonly stats: { queued: number; dropped: number; pending: number };
  /** Ends the stream after the queued frames and resolves with the peer's answer. */
  end(): Promise<boolean>;
  /** Resolves (or rejects, naming peer and method) when the stream is over, however it ended. */
  readonly done: Promise<boolean>;
}
