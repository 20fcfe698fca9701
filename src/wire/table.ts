// The wire table of one node: wire ends by id, frames from a pod's host end queued to the peer
// node's stream under the receiver's id, and frames from peers delivered in O(1) by the id they
// carry. No kernel here: each end's frame socket and the peer streams are handed in, so the table
// runs the same behind the daemon's AF_PACKET sockets and a test's fake ones.
import { Impairer } from './impair';
import type { Impairment } from '../topology/impairment';
import type { Packet } from '../grpc';
import { LogLimiter, type Logger } from '../log';

/** What the table needs of a wire's host-end socket (kernel/packet.ts PacketSocket provides it). */
export interface FrameSocket {
  /** The frames waiting now; throws (e.g. ENETDOWN) when the interface went down. */
  recv(): Buffer[];
  /** How many of `frames` the kernel took. */
  send(frames: readonly Buffer[]): number;
  /** Calls `cb` while frames wait; returns what stops it. */
  onReadable(cb: () => void): () => void;
  close(): void;
  stats(): { rxBytes: number; txBytes: number; rxDropsKernel?: number };
}

/** A peer node's stream of Packets (queued; false when it dropped the frame). */
export interface PacketSink {
  send(p: Packet): boolean;
  /** Several frames in one write, where the stream can (raw-stream.ts). */
  sendAll?(ps: readonly Packet[]): number;
}

export interface WireEndSpec {
  id: bigint;
  /** The peer node's IP and that node's id for the other end. */
  peerNode: string;
  peerId: bigint;
  podNetns: string;
  podIntf: string;
  /** CIDR for the pod's interface, or undefined. */
  podIp?: string;
  /** The pod and the link, for lookups by upstream's Local calls (by netns and uid, by pod). */
  pod?: { namespace: string; name: string };
  linkUid?: number;
  /** The veth's MTU (the link's); default 1500. */
  mtu?: number;
  /** A host end someone else made (upstream's Go plugin names its own); default gw<id>. */
  hostIntf?: string;
}

export interface WireEnd extends WireEndSpec {
  hostIntf: string;
  sock: FrameSocket;
  stop: () => void;
  /** Frames read from the pod (sent to the peer) and written to it. */
  rxFrames: number;
  txFrames: number;
  /** Present while frames leaving this end are impaired (impair.ts). */
  impairer?: Impairer;
}

export interface TableCounters {
  framesOut: number;
  framesIn: number;
  /** Frames for a wire id this node does not have (a peer ahead of or behind us). */
  unknownWire: number;
  /** Frames the host end could not take (socket buffer full, or the end down). */
  sendFailed: number;
  /** Frames for a wire whose other end is on another node than the sender's: dropped. */
  wrongPeer: number;
}

export class WireTable {
  private readonly ends = new Map<bigint, WireEnd>();
  readonly counters: TableCounters = { framesOut: 0, framesIn: 0, unknownWire: 0, sendFailed: 0, wrongPeer: 0 };

  private readonly limited: LogLimiter;

  /**
   * `onRecvError`: a host end's socket failed (ENETDOWN: its interface went down or away); the
   * owner of the kernel side tells which (dataplane.ts).
   */
  constructor(private readonly streamTo: (node: string) => PacketSink, private readonly log: Logger, private readonly onRecvError?: (end: Readonly<WireEndSpec> & { hostIntf: string }) => void) {
    this.limited = new LogLimiter(log);
  }

  get size(): number {
    return this.ends.size;
  }

  has(id: bigint): boolean {
    return this.ends.has(id);
  }

  values(): IterableIterator<WireEnd> {
    return this.ends.values();
  }

  /** Starts relaying `sock` as the host end of wire `spec.id`. */
  add(spec: WireEndSpec, hostIntf: string, sock: FrameSocket): WireEnd {
    const end: WireEnd = { ...spec, hostIntf, sock, stop: () => undefined, rxFrames: 0, txFrames: 0 };
    end.stop = sock.onReadable(() => this.pump(end));
    this.ends.set(spec.id, end);
    return end;
  }

  /**
   * Impairs the frames leaving end `id` (towards its peer) as `spec` says, or stops impairing
   * them (undefined: what still waits in the delay line is dropped). False when unknown.
   */
  setImpairment(id: bigint, spec: Impairment | undefined): boolean {
    const end = this.ends.get(id);
    if (!end) return false;
    if (!spec) {
      end.impairer?.close();
      delete end.impairer;
    } else if (end.impairer) end.impairer.set(spec);
    else end.impairer = new Impairer(spec, (frame) => this.streamTo(end.peerNode).send({ remotIntfId: end.peerId, frame }));
    return true;
  }

  /** Stops relaying wire `id` and closes its socket; the end, for its interface to be deleted. */
  remove(id: bigint): WireEnd | undefined {
    const end = this.ends.get(id);
    if (!end) return undefined;
    this.ends.delete(id);
    end.impairer?.close();
    end.stop();
    end.sock.close();
    return end;
  }

  /** Every end removed (the daemon stopping); their interfaces stay. */
  clear(): void {
    for (const id of [...this.ends.keys()]) this.remove(id);
  }

  /** This node's ends matching `pred` (their specs as relayed). */
  find(pred: (e: Readonly<WireEndSpec> & { hostIntf: string }) => boolean): (WireEndSpec & { hostIntf: string })[] {
    return [...this.ends.values()].filter(pred).map((e) => ({
      id: e.id, peerNode: e.peerNode, peerId: e.peerId, podNetns: e.podNetns, podIntf: e.podIntf, hostIntf: e.hostIntf,
      ...(e.podIp ? { podIp: e.podIp } : {}), ...(e.pod ? { pod: e.pod } : {}), ...(e.linkUid !== undefined ? { linkUid: e.linkUid } : {}),
    }));
  }

  /** An upstream peer numbers its end its own way: address frames with the id it answered. */
  setPeerId(id: bigint, peerId: bigint): void {
    const end = this.ends.get(id);
    if (end) end.peerId = peerId;
  }

  /** Pod → peer: drain the host end and queue every frame on the peer node's stream. */
  private pump(end: WireEnd): void {
    let frames: Buffer[];
    try {
      frames = end.sock.recv();
    } catch (e) {
      // ENETDOWN once when the host end goes down (peer lost) or away (pod gone: its DEL removes
      // the wire); the socket keeps working when the end comes back up.
      this.log.warn(`wire ${end.id} (${end.podIntf}): ${(e as Error).message}`);
      this.onRecvError?.(end);
      return;
    }
    if (frames.length === 0) return;
    end.rxFrames += frames.length;
    if (end.impairer) {
      for (const frame of frames) end.impairer.push(frame);
    } else {
      const stream = this.streamTo(end.peerNode);
      if (stream.sendAll && frames.length > 1) stream.sendAll(frames.map((frame) => ({ remotIntfId: end.peerId, frame })));
      else for (const frame of frames) stream.send({ remotIntfId: end.peerId, frame });
    }
    this.counters.framesOut += frames.length;
  }

  /**
   * Peer → pod: deliver a frame to the wire its id names. `from`, the sending node's address when
   * known: only the node at the wire's other end may put frames on it (no injection by id).
   */
  deliverOne(p: Packet, from?: string): void {
    const end = this.ends.get(p.remotIntfId);
    if (!end) {
      this.counters.unknownWire++;
      this.limited.warn('unknown-wire', `frame for wire id ${p.remotIntfId}, which this node does not have, from ${from ?? 'a peer'} (dropped; counted in meshnet_dataplane_unknown_wire_frames_total)`);
      return;
    }
    if (from !== undefined && from !== end.peerNode) {
      this.counters.wrongPeer++;
      this.limited.warn('wrong-peer', `frame for wire ${end.id} (${end.podIntf}) from ${from}, not from its peer node ${end.peerNode} (dropped; counted in meshnet_dataplane_wrong_peer_frames_total)`);
      return;
    }
    const f = p.frame;
    // A full socket (EAGAIN) or a down end drops the frame, as a congested or unplugged link
    // would; counted, never blocking, never failing the peer's stream.
    let sent = 0;
    try {
      sent = end.sock.send([Buffer.from(f.buffer, f.byteOffset, f.byteLength)]);
    } catch {
      sent = 0;
    }
    if (sent === 1) {
      end.txFrames++;
      this.counters.framesIn++;
    } else this.counters.sendFailed++;
  }
}
