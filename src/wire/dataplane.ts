// The grpc-wire dataplane of one node. Each wire end is a veth: the pod's interface (full MTU, no
// reduction) and a host end in the node's netns, read and written through an AF_PACKET socket with
// PACKET_VNET_HDR, so a pod's TSO super-frames cross whole. Frames leave on one gRPC stream per
// peer node (WireProtocol.SendToStream), each Packet carrying the RECEIVER's wire id; frames that
// arrive are delivered in O(1) by that id.
import { NetNs, PacketSocket, Rtnl, type KernelError } from '../kernel';
import { grpcAddress, wireClient, type Packet, type WireClient, type WireStream } from '../grpc';
import { MESHNET_LINK_GROUP } from '../plugins/meshnet/links';
import { wireHostIntf } from './ids';

/** Bytes of kernel buffer per wire socket, each way. */
const SOCKET_BUFFER = 16 << 20;

export interface WireEndSpec {
  id: bigint;
  /** The peer node's IP and that node's id for the other end. */
  peerNode: string;
  peerId: bigint;
  podNetns: string;
  podIntf: string;
  /** CIDR for the pod's interface, or undefined. */
  podIp?: string;
}

interface WireEnd extends WireEndSpec {
  hostIntf: string;
  sock: PacketSocket;
  stop: () => void;
  rxFrames: number;
  txFrames: number;
}

export interface WireStats {
  wires: number;
  framesOut: number;
  framesIn: number;
  /** Frames for a wire id this node does not have (a peer ahead of or behind us). */
  unknownWire: number;
  /** Frames the host end could not take (socket buffer full). */
  sendFailed: number;
  /** Frames the kernel dropped before we read them (receive buffer full). */
  kernelDrops: number;
  streamDrops: number;
}

export class WireDataplane {
  private readonly wires = new Map<bigint, WireEnd>();
  private readonly peers = new Map<string, { client: WireClient; stream: WireStream }>();
  private readonly counters = { framesOut: 0, framesIn: 0, unknownWire: 0, sendFailed: 0 };

  constructor(private readonly opts: { grpcPort: number; log: (s: string) => void }) {}

  /** Creates (or re-creates) this node's end of a wire and starts relaying it. */
  addEnd(spec: WireEndSpec): void {
    this.removeEnd(spec.id);
    const hostIntf = wireHostIntf(spec.id);
    const podNs = NetNs.open(spec.podNetns);
    const node = Rtnl.open();
    const pod = Rtnl.open(podNs);
    try {
      if (pod.link(spec.podIntf)) pod.deleteLink(spec.podIntf); // a stale end (peer moved, restart)
      if (node.link(hostIntf)) node.deleteLink(hostIntf);
      node.createVeth({ name: hostIntf, peerName: spec.podIntf, peerNs: podNs, mtu: 1500, group: MESHNET_LINK_GROUP });
      if (spec.podIp) pod.addAddr(spec.podIntf, spec.podIp, { noDad: true, replace: true });
      pod.setUp(spec.podIntf);
      node.setUp(hostIntf);
    } finally {
      pod.close();
      node.close();
      podNs.close();
    }
    // Large buffers: the event loop also encodes and sends; while it does, a pod's burst of
    // super-frames must wait in the socket rather than be dropped by the kernel.
    this.relay(spec, hostIntf);
  }

  /**
   * After a daemon restart: relays an end whose veth already exists (made by the previous
   * daemon), without touching the pod. False when its host end is gone.
   */
  attachEnd(spec: WireEndSpec): boolean {
    const hostIntf = wireHostIntf(spec.id);
    const node = Rtnl.open();
    try {
      if (!node.link(hostIntf)) return false;
    } finally {
      node.close();
    }
    this.relay(spec, hostIntf);
    return true;
  }

  private relay(spec: WireEndSpec, hostIntf: string): void {
    // Large buffers: the event loop also encodes and sends; while it does, a pod's burst of
    // super-frames must wait in the socket rather than be dropped by the kernel.
    const sock = PacketSocket.open(hostIntf, { vnetHdr: true, rcvbuf: SOCKET_BUFFER, sndbuf: SOCKET_BUFFER });
    const end: WireEnd = { ...spec, hostIntf, sock, stop: () => undefined, rxFrames: 0, txFrames: 0 };
    end.stop = sock.onReadable(() => this.pump(end));
    this.wires.set(spec.id, end);
  }

  /** Stops relaying and deletes the host end (its pod end goes with it). False when unknown. */
  removeEnd(id: bigint): boolean {
    const end = this.wires.get(id);
    if (!end) return false;
    this.wires.delete(id);
    end.stop();
    end.sock.close();
    const node = Rtnl.open();
    try {
      node.deleteLink(end.hostIntf);
    } finally {
      node.close();
    }
    return true;
  }

  /** An upstream peer numbers its end its own way: address frames with the id it answered. */
  setPeerId(id: bigint, peerId: bigint): void {
    const end = this.wires.get(id);
    if (end) end.peerId = peerId;
  }

  has(id: bigint): boolean {
    return this.wires.has(id);
  }

  /** Pod → peer: drain the host end and queue every frame on the peer node's stream. */
  private pump(end: WireEnd): void {
    let frames: Buffer[];
    try {
      frames = end.sock.recv();
    } catch (e) {
      // ENETDOWN: the pod (and so the veth) is gone; its DEL removes the wire.
      this.opts.log(`wire ${end.id} (${end.podIntf}): ${(e as KernelError).message}`);
      end.stop();
      return;
    }
    if (frames.length === 0) return;
    const stream = this.streamTo(end.peerNode);
    for (const frame of frames) {
      stream.send({ remotIntfId: end.peerId, frame });
      end.rxFrames++;
    }
    this.counters.framesOut += frames.length;
  }

  private streamTo(node: string): WireStream {
    let p = this.peers.get(node);
    if (!p) {
      const client = wireClient(grpcAddress(node, this.opts.grpcPort));
      const stream = client.openStream();
      p = { client, stream };
      this.peers.set(node, p);
      const entry = p;
      // A broken stream is dropped; the next frame opens a new one.
      stream.done.then(() => undefined, (e: Error) => {
        this.opts.log(`wire stream to ${node} ended: ${e.message}`);
        if (this.peers.get(node) === entry) this.peers.delete(node);
        entry.client.close();
      });
    }
    return p.stream;
  }

  /** Peer → pod: deliver each frame to the wire its id names. */
  async deliver(packets: AsyncIterable<Packet>): Promise<boolean> {
    for await (const p of packets) this.deliverOne(p);
    return true;
  }

  deliverOne(p: Packet): void {
    const end = this.wires.get(p.remotIntfId);
    if (!end) {
      this.counters.unknownWire++;
      return;
    }
    const f = p.frame;
    // A full socket (EAGAIN) drops the frame, as a congested link would; counted, never blocking.
    if (end.sock.send([Buffer.from(f.buffer, f.byteOffset, f.byteLength)]) === 1) {
      end.txFrames++;
      this.counters.framesIn++;
    } else this.counters.sendFailed++;
  }

  stats(): WireStats {
    let streamDrops = 0;
    for (const p of this.peers.values()) streamDrops += p.stream.stats.dropped;
    let kernelDrops = 0;
    for (const w of this.wires.values()) kernelDrops += w.sock.stats().rxDropsKernel ?? 0;
    return { wires: this.wires.size, ...this.counters, kernelDrops, streamDrops };
  }

  /**
   * Stops relaying. The veths stay: a daemon restart must not unplug every pod's wires (a
   * restarted daemon is to reattach them from their GWireKObj records: see docs/grpc-wire-plan.md).
   */
  close(): void {
    for (const end of this.wires.values()) {
      end.stop();
      end.sock.close();
    }
    this.wires.clear();
    for (const p of this.peers.values()) {
      void p.stream.end().catch(() => undefined);
      p.client.close();
    }
    this.peers.clear();
  }
}
