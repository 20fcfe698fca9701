// The grpc-wire dataplane of one node. Each wire end is a veth: the pod's interface (full MTU, no
// reduction) and a host end in the node's netns, read and written through an AF_PACKET socket with
// PACKET_VNET_HDR, so a pod's TSO super-frames cross whole. Frames leave on one gRPC stream per
// peer node (WireProtocol.SendToStream), each Packet carrying the RECEIVER's wire id; frames that
// arrive are delivered in O(1) by that id (the wire table, table.ts). This file owns the kernel
// side (veths, sockets) and the carrier rule; the peer streams (loss, probing, the SendToOnce
// fallback) are peers.ts.
import { KernelError, NetNs, PacketSocket, Rtnl, disableTxOffloads, netnsPathExists, withNetns, type LinkInfo } from '../kernel';
import { formatImpairment, type Impairment } from '../topology/impairment';
import type { ImpairCounters } from './impair';
import type { Packet, TlsMaterial } from '../grpc';
import { PeerStreams } from './peers';
import { MESHNET_LINK_GROUP } from '../plumbing/links';
import { wireHostIntf, wirePodMac } from './ids';
import { WireTable, type WireEndSpec } from './table';
import type { Logger } from '../log';

export type { WireEndSpec } from './table';

/** Bytes of kernel buffer per wire socket, each way. */
const SOCKET_BUFFER = 16 << 20;

/** One wire end as telemetry reports it. Counters are frames from the pod (out) and to it (in). */
export interface WireTelemetry {
  id: string;
  peerId: string;
  peerNode: string;
  podNetns: string;
  podIntf: string;
  /** The pod the wire end is in, when known (every wire meshnetd makes; upstream's plugin names it too). */
  pod?: { namespace: string; name: string };
  hostIntf: string;
  /** False while the peer node is lost or the far pod is gone (the pod sees NO-CARRIER). */
  carrier: boolean;
  /** True while the far pod is gone (its DEL ran) and this end waits for it to come back. */
  farGone: boolean;
  /** True while the link's cable is pulled (its Topology says `state: down`). */
  pulled: boolean;
  /** What frames leaving this end suffer (as a Topology writes it), and what it did so far. */
  impairment?: { settings: Record<string, string>; counters: ImpairCounters; waiting: number };
  framesFromPod: number;
  framesToPod: number;
  bytesFromPod: number;
  bytesToPod: number;
  kernelDrops: number;
}

export interface WireStats {
  wires: number;
  framesOut: number;
  framesIn: number;
  /** Frames for a wire id this node does not have (a peer ahead of or behind us). */
  unknownWire: number;
  /** Frames for a known wire from a node other than its peer (dropped: table.ts). */
  wrongPeer: number;
  /** Frames the host end could not take (socket buffer full). */
  sendFailed: number;
  /** Frames the kernel dropped before we read them (receive buffer full). */
  kernelDrops: number;
  streamDrops: number;
}

/** Both halves of a wire's veth to `mtu`; lowering, the pod's half first, so it never sends what the host half cannot take. */
function setVethMtu(node: Rtnl, hostIntf: string, pod: Rtnl, podIntf: string, current: number, mtu: number): void {
  if (mtu < current) pod.setMtu(podIntf, mtu);
  node.setMtu(hostIntf, mtu);
  if (mtu >= current) pod.setMtu(podIntf, mtu);
}

/** Whether `hostIntf` (in `node`'s netns) is a veth paired with `podIntf` in the pod's netns. */
function vethIntact(node: Rtnl, hostIntf: string, podNetns: string, podIntf: string): boolean {
  const host = node.link(hostIntf);
  if (host?.kind !== 'veth' || !netnsPathExists(podNetns)) return false;
  let ns: NetNs;
  try {
    ns = NetNs.open(podNetns);
  } catch {
    return false; // the pod's netns went away meanwhile
  }
  const pod = Rtnl.open(ns);
  try {
    return paired(host, pod.link(podIntf));
  } finally {
    pod.close();
    ns.close();
  }
}

/** Whether a host end and a pod interface are the two halves of one veth. */
function paired(host: LinkInfo | undefined, pod: LinkInfo | undefined): boolean {
  return host?.kind === 'veth' && pod?.kind === 'veth' && pod.peerIndex === host.index && host.peerIndex === pod.index;
}

/** A link by name in a pod's netns, or in the node's own (netns undefined); whoever asks may keep its sockets open. */
export type LinkLookup = (netns: string | undefined, name: string) => LinkInfo | undefined;

export class WireDataplane {
  private readonly wires: WireTable;
  /** The streams to peer nodes; a lost one's wires show NO-CARRIER. */
  private readonly peers: PeerStreams;
  /**
   * Ends whose far pod is gone (its DEL ran) while this pod still lists the link: the pod keeps
   * its interface with NO-CARRIER, like a router whose neighbour was unplugged, until the far pod
   * comes back and the wire is made again on the same interface (issue 9: carrier follows the far
   * pod's interface).
   */
  private readonly farGone = new Set<bigint>();
  /** Ends whose link's cable is pulled (Topology `state: down`): no carrier whatever the peer does. */
  private readonly pulled = new Set<bigint>();
  /** Impairments by end (kept when an end is re-made on the same interface: reuseEnd). */
  private readonly impairments = new Map<bigint, Impairment>();
  /** Ends reported broken (broken()), until they are removed or made again. */
  private readonly reported = new Set<bigint>();

  /** Whether end `id` must show no carrier for a reason of its own (far pod gone, cable pulled). */
  private held(id: bigint): boolean {
    return this.farGone.has(id) || this.pulled.has(id);
  }

  /** The one carrier rule: up unless the peer node is lost or the end is held down. */
  private carrierOf(id: bigint, peerNode: string): boolean {
    return !this.peers.isLost(peerNode) && !this.held(id);
  }

  /** Sets a host end's state (the carrier the pod sees) by carrierOf, on `rt` or a socket of its own. */
  private applyCarrier(id: bigint, peerNode: string, hostIntf: string, rt?: Rtnl): void {
    const r = rt ?? Rtnl.open();
    try {
      if (this.carrierOf(id, peerNode)) r.setUp(hostIntf);
      else r.setDown(hostIntf);
    } finally {
      if (!rt) r.close();
    }
  }

  /**
   * `onEndBroken`: an end's veth is gone while the table still relays it (its interface was
   * deleted under the daemon); the reconciler makes the wire again (issue 21).
   */
  constructor(private readonly opts: { grpcPort: number; log: Logger; tls?: TlsMaterial; onEndBroken?: (end: WireEndSpec & { hostIntf: string }) => void }) {
    this.peers = new PeerStreams({ grpcPort: opts.grpcPort, log: opts.log, ...(opts.tls ? { tls: opts.tls } : {}), onCarrier: (node, up) => this.setCarrier(node, up) });
    this.wires = new WireTable((node) => this.peers.streamTo(node), opts.log, (end) => {
      if (!this.intact(end.id)) this.broken(end.id);
    });
  }

  /**
   * Whether end `id`'s veth is whole: its host end exists in this netns and is paired with the
   * pod's interface (a veth's halves go together, so one missing means the wire is cut). False
   * when unknown.
   */
  intact(id: bigint, look?: LinkLookup): boolean {
    const [end] = this.wires.find((e) => e.id === id);
    if (!end) return false;
    // Through the caller's open sockets (a sync over 1,500 wires opened two sockets and a netns
    // per wire: 15 s, holding the lock a pod's DEL waits for).
    if (look) {
      try {
        return paired(look(undefined, end.hostIntf), look(end.podNetns, end.podIntf));
      } catch {
        return false; // the pod's netns went away meanwhile
      }
    }
    const node = Rtnl.open();
    try {
      return vethIntact(node, end.hostIntf, end.podNetns, end.podIntf);
    } finally {
      node.close();
    }
  }

  /** Tells the owner that end `id`'s veth is gone (logged once per end). */
  private broken(id: bigint): void {
    const [end] = this.wires.find((e) => e.id === id);
    if (!end || this.reported.has(id)) return;
    this.reported.add(id);
    this.opts.log.warn(`wire ${id}: ${end.pod ? `${end.pod.namespace}/${end.pod.name}:` : ''}${end.podIntf}: its veth (host end ${end.hostIntf}) is gone: the wire is to be made again`);
    this.opts.onEndBroken?.(end);
  }


  /**
   * Creates this node's end of a wire and starts relaying it. An end this node already has for the
   * same pod interface (the far pod came back, or its node re-asks) is kept, not re-created: the
   * pod's interface, its index and whatever a router configured on it survive.
   */
  addEnd(spec: WireEndSpec): void {
    if (this.reuseEnd(spec)) return;
    this.removeEnd(spec.id);
    const hostIntf = wireHostIntf(spec.id);
    const podNs = NetNs.open(spec.podNetns);
    const node = Rtnl.open();
    const pod = Rtnl.open(podNs);
    try {
      if (pod.link(spec.podIntf)) pod.deleteLink(spec.podIntf); // a stale end (peer moved, restart)
      if (node.link(hostIntf)) node.deleteLink(hostIntf);
      node.createVeth({ name: hostIntf, peerName: spec.podIntf, peerNs: podNs, peerMac: wirePodMac(spec.id), mtu: spec.mtu ?? 1500, group: MESHNET_LINK_GROUP });
      if (spec.podIp) pod.addAddr(spec.podIntf, spec.podIp, { noDad: true, replace: true });
      pod.setUp(spec.podIntf);
      // The host end's state is the carrier the pod sees: down while the peer node is lost.
      this.applyCarrier(spec.id, spec.peerNode, hostIntf, node);
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
    // A CNI ADD served while the restore was running may have made this end already.
    if (this.wires.has(spec.id)) return true;
    const hostIntf = spec.hostIntf ?? wireHostIntf(spec.id);
    const node = Rtnl.open();
    try {
      // A host end without its pod end (or paired with another interface) is no wire: it goes,
      // and the wire is made again (the reconciler's start-up resync; issue 21).
      if (!vethIntact(node, hostIntf, spec.podNetns, spec.podIntf)) {
        node.deleteLink(hostIntf);
        return false;
      }
      // A restored end keeps whatever carrier the previous daemon left, which may be down (its
      // peer was lost when it was killed): this daemon counts the peer reachable until its stream
      // says otherwise (found by the storm test: wires left NO-CARRIER for good after a restart).
      this.applyCarrier(spec.id, spec.peerNode, hostIntf, node);
    } finally {
      node.close();
    }
    this.relay(spec, hostIntf);
    return true;
  }

  /** addEnd on an end that exists for the same pod interface: relay it with the new spec, carrier up. */
  private reuseEnd(spec: WireEndSpec): boolean {
    const [old] = this.wires.find((e) => e.id === spec.id && e.podNetns === spec.podNetns && e.podIntf === spec.podIntf);
    if (!old) return false;
    const podNs = NetNs.open(spec.podNetns);
    const node = Rtnl.open();
    const pod = Rtnl.open(podNs);
    try {
      const podLink = pod.link(spec.podIntf);
      if (!podLink || podLink.kind !== 'veth' || !node.link(old.hostIntf)) return false;
      this.wires.remove(spec.id);
      this.farGone.delete(spec.id);
      if (spec.mtu && podLink.mtu !== spec.mtu) setVethMtu(node, old.hostIntf, pod, spec.podIntf, podLink.mtu, spec.mtu);
      if (spec.podIp) pod.addAddr(spec.podIntf, spec.podIp, { noDad: true, replace: true });
      this.applyCarrier(spec.id, spec.peerNode, old.hostIntf, node);
    } finally {
      pod.close();
      node.close();
      podNs.close();
    }
    this.relay(spec, old.hostIntf);
    return true;
  }

  /** A running wire end's MTU changed (its Topology link's `mtu`): both halves of its veth, live. */
  setMtu(id: bigint, mtu: number): void {
    const [end] = this.wires.find((e) => e.id === id);
    if (!end) return;
    const podNs = NetNs.open(end.podNetns);
    const node = Rtnl.open();
    const pod = Rtnl.open(podNs);
    try {
      setVethMtu(node, end.hostIntf, pod, end.podIntf, pod.link(end.podIntf)?.mtu ?? mtu, mtu);
    } finally {
      pod.close();
      node.close();
      podNs.close();
    }
  }

  /**
   * The far pod is gone: this end stays (its pod still lists the link) with NO-CARRIER until the
   * far pod's node makes the wire again (addEnd). False when this node has no such end.
   */
  farPodGone(id: bigint): boolean {
    const [end] = this.wires.find((e) => e.id === id);
    if (!end) return false;
    this.farGone.add(id);
    this.applyCarrier(id, end.peerNode, end.hostIntf);
    return true;
  }

  /**
   * Pulls (`down`) or plugs back the cable of end `id`: its host end goes down, so the pod's
   * interface stays admin-up and shows NO-CARRIER, and nothing crosses; plugging it back gives
   * carrier again unless the peer node is lost or the far pod gone. False when unknown.
   */
  setPulled(id: bigint, down: boolean): boolean {
    const [end] = this.wires.find((e) => e.id === id);
    if (!end) return false;
    if (down) this.pulled.add(id);
    else this.pulled.delete(id);
    this.applyCarrier(id, end.peerNode, end.hostIntf);
    return true;
  }

  /**
   * Impairs frames leaving end `id` towards its peer (or stops: undefined). The pod's interface
   * gets its tx offloads turned off, so it hands the wire MTU-sized frames with real checksums:
   * loss and corruption then hit single packets, as netem's do, not 64 KB TSO super-frames.
   * False when unknown.
   */
  setImpairment(id: bigint, spec: Impairment | undefined): boolean {
    const [end] = this.wires.find((e) => e.id === id);
    if (!end) return false;
    if (spec && !this.impairments.has(id)) {
      const ns = NetNs.open(end.podNetns);
      try {
        withNetns(ns, () => disableTxOffloads(end.podIntf));
      } finally {
        ns.close();
      }
    }
    if (spec) this.impairments.set(id, spec);
    else this.impairments.delete(id);
    return this.wires.setImpairment(id, spec);
  }

  /** End `id`'s impairment (setImpairment), if any. */
  impairmentOf(id: bigint): Impairment | undefined {
    return this.impairments.get(id);
  }

  /** Whether end `id`'s cable is pulled (setPulled). */
  isPulled(id: bigint): boolean {
    return this.pulled.has(id);
  }

  /** Whether end `id` waits for its far pod (farPodGone). */
  isFarGone(id: bigint): boolean {
    return this.farGone.has(id);
  }

  private relay(spec: WireEndSpec, hostIntf: string): void {
    this.reported.delete(spec.id);
    // Large buffers: the event loop also encodes and sends; while it does, a pod's burst of
    // super-frames must wait in the socket rather than be dropped by the kernel.
    this.wires.add(spec, hostIntf, PacketSocket.open(hostIntf, { vnetHdr: true, rcvbuf: SOCKET_BUFFER, sndbuf: SOCKET_BUFFER }));
    const impairment = this.impairments.get(spec.id);
    if (impairment) this.wires.setImpairment(spec.id, impairment);
    // Open the peer's stream now, not at the first frame: its loss is how carrier goes down.
    this.peers.open(spec.peerNode);
  }

  /** Stops relaying and deletes the host end (its pod end goes with it). False when unknown. */
  removeEnd(id: bigint): boolean {
    const hostIntf = this.detachEnd(id);
    if (hostIntf === undefined) return false;
    const node = Rtnl.open();
    try {
      node.deleteLink(hostIntf);
    } finally {
      node.close();
    }
    return true;
  }

  /**
   * Stops relaying end `id` and forgets it, leaving its veth to whoever deletes it (a pod's DEL
   * deletes all its links in one batch: one by one, 1,500 deletions took over 30 s). Its host
   * end's name, or undefined when unknown.
   */
  detachEnd(id: bigint): string | undefined {
    const end = this.wires.remove(id);
    this.reported.delete(id);
    this.farGone.delete(id);
    this.pulled.delete(id);
    this.impairments.delete(id);
    return end?.hostIntf;
  }

  /** This node's end on interface `podIntf` of the pod in `podNetns`, if any. */
  endOn(podNetns: string, podIntf: string): (WireEndSpec & { hostIntf: string }) | undefined {
    return this.wires.find((e) => e.podNetns === podNetns && e.podIntf === podIntf)[0];
  }

  /** This node's ends in pod `namespace/name`. */
  endsOfPod(namespace: string, name: string): (WireEndSpec & { hostIntf: string })[] {
    return this.findEnds((e) => e.pod?.namespace === namespace && e.pod.name === name);
  }

  /** This node's ends matching `pred` (their specs as relayed). */
  findEnds(pred: (e: Readonly<WireEndSpec> & { hostIntf: string }) => boolean): (WireEndSpec & { hostIntf: string })[] {
    return this.wires.find(pred);
  }

  /** An upstream peer numbers its end its own way: address frames with the id it answered. */
  setPeerId(id: bigint, peerId: bigint): void {
    this.wires.setPeerId(id, peerId);
  }

  /**
   * A peer node opened a stream to us: if we count it lost (its daemon restarted, say), it is
   * probed now rather than at the next tick of the once-a-second probe.
   */
  peerSeen(node: string): void {
    this.peers.peerSeen(node);
  }

  /** A peer node lost (its stream broke) or back: the carrier its wires show. */
  private setCarrier(node: string, up: boolean): void {
    const rt = Rtnl.open();
    let n = 0;
    try {
      for (const w of this.wires.values()) {
        // An end whose far pod is gone or whose cable is pulled stays down when its node comes back.
        if (w.peerNode !== node || (up && this.held(w.id))) continue;
        try {
          if (up) rt.setUp(w.hostIntf);
          else rt.setDown(w.hostIntf);
          n++;
        } catch (e) {
          if (e instanceof KernelError && e.code === 'ENODEV') this.broken(w.id);
          else this.opts.log.warn(`wire ${w.id}: carrier ${up ? 'up' : 'down'}: ${(e as Error).message}`);
        }
      }
    } finally {
      rt.close();
    }
    (up ? this.opts.log.info : this.opts.log.warn)(`wires to node ${node}: carrier ${up ? 'up' : 'DOWN'} on ${n} wire(s)`);
  }

  /** Peer → pod: deliver a frame to the wire its id names, if `from` is that wire's peer node (table.ts). */
  deliverOne(p: Packet, from?: string): void {
    this.wires.deliverOne(p, from);
  }

  /** Per-wire counters, for the daemon's metrics endpoint. */
  telemetry(): WireTelemetry[] {
    return [...this.wires.values()].map((w) => {
      const st = w.sock.stats();
      return {
        id: w.id.toString(), peerId: w.peerId.toString(), peerNode: w.peerNode, podNetns: w.podNetns, podIntf: w.podIntf, ...(w.pod ? { pod: w.pod } : {}),
        hostIntf: w.hostIntf, carrier: this.carrierOf(w.id, w.peerNode), farGone: this.farGone.has(w.id), pulled: this.pulled.has(w.id),
        ...(w.impairer ? { impairment: { settings: formatImpairment(w.impairer.impairment), counters: { ...w.impairer.counters }, waiting: w.impairer.waiting } } : {}),
        framesFromPod: w.rxFrames, framesToPod: w.txFrames,
        bytesFromPod: st.rxBytes, bytesToPod: st.txBytes, kernelDrops: st.rxDropsKernel ?? 0,
      };
    });
  }

  stats(): WireStats {
    const streamDrops = this.peers.droppedFrames();
    let kernelDrops = 0;
    for (const w of this.wires.values()) kernelDrops += w.sock.stats().rxDropsKernel ?? 0;
    return { wires: this.wires.size, ...this.wires.counters, kernelDrops, streamDrops };
  }

  /**
   * Stops relaying. The veths stay: a daemon restart must not unplug every pod's wires (a
   * restarted daemon is to reattach them from their GWireKObj records: see docs/grpc-wire-plan.md).
   */
  close(): void {
    this.wires.clear();
    this.peers.close();
  }
}
