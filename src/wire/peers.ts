// The streams of one node's grpc-wire dataplane to its peer nodes: one WireProtocol.SendToStream
// per peer node, opened when its first wire is relayed; a stream that breaks marks its node lost
// (the dataplane shows NO-CARRIER on that node's wires) and the node is probed every second until a
// probe stream survives 300 ms; a peer that serves only SendToOnce (upstream meshnet) gets one
// call per frame instead. The kernel side and the carrier rule stay in dataplane.ts.
import { GrpcCallError, grpcAddress, wireClient, type TlsMaterial, type WireClient, type WireStream, Status } from '../grpc';
import type { Logger } from '../log';

/** How often a lost peer node is probed, and how long a probe stream must survive to count as up. */
const PROBE_INTERVAL_MS = 1000;
const PROBE_SETTLE_MS = 300;

export interface PeerStreamsOptions {
  grpcPort: number;
  log: Logger;
  tls?: TlsMaterial;
  /** A peer node was lost (its stream broke) or is back (a probe stream survived). */
  onCarrier(node: string, up: boolean): void;
}

export class PeerStreams {
  private readonly peers = new Map<string, { client: WireClient; stream: WireStream }>();
  /** Peer nodes whose stream broke, with their probe timers. */
  private readonly lost = new Map<string, NodeJS.Timeout>();
  private readonly probing = new Set<string>();
  /** Peer nodes that do not serve SendToStream (upstream meshnet): frames go one SendToOnce each. */
  private readonly unaryPeers = new Set<string>();
  private closed = false;

  constructor(private readonly opts: PeerStreamsOptions) {}

  /** Whether `node`'s stream broke and no probe has found it back yet. */
  isLost(node: string): boolean {
    return this.lost.has(node);
  }

  /** The stream to `node`, opened now if there is none (its loss is how carrier goes down). */
  streamTo(node: string): WireStream {
    let p = this.peers.get(node);
    if (!p) {
      const client = this.client(node);
      p = { client, stream: this.unaryPeers.has(node) ? client.openUnaryStream() : client.openStream() };
      this.adopt(node, p);
    }
    return p.stream;
  }

  /** Opens the stream to `node` unless it is lost (then the probe opens it). */
  open(node: string): void {
    if (!this.lost.has(node)) this.streamTo(node);
  }

  /**
   * A peer node opened a stream to us: if we count it lost (its daemon restarted, say), probe it
   * now rather than at the next tick of the once-a-second probe.
   */
  peerSeen(node: string): void {
    if (this.lost.has(node)) this.probe(node);
  }

  /** Frames the streams dropped (a full stream: the peer or the network cannot keep up). */
  droppedFrames(): number {
    let n = 0;
    for (const p of this.peers.values()) n += p.stream.stats.dropped;
    return n;
  }

  close(): void {
    this.closed = true;
    for (const t of this.lost.values()) clearInterval(t);
    this.lost.clear();
    for (const p of this.peers.values()) {
      void p.stream.end().catch(() => undefined);
      p.client.close();
    }
    this.peers.clear();
  }

  private client(node: string): WireClient {
    return wireClient(grpcAddress(node, this.opts.grpcPort), this.opts.tls ? { tls: this.opts.tls } : {});
  }

  /** Uses `p` as the stream to `node`; when it breaks, the node is lost. */
  private adopt(node: string, p: { client: WireClient; stream: WireStream }): void {
    this.peers.set(node, p);
    // We never end a stream but in close(): any end, clean or not, means the peer went away.
    const broken = (why: string) => {
      if (this.closed) return;
      this.opts.log.warn(`wire stream to ${node} broke: ${why}`);
      if (this.peers.get(node) === p) this.peers.delete(node);
      p.client.close();
      this.peerLost(node);
    };
    p.stream.done.then(() => broken('the peer ended it'), (e: Error) => {
      // Upstream meshnet serves only SendToOnce: the peer is there, it just wants one call per frame.
      if (e instanceof GrpcCallError && e.code === Status.UNIMPLEMENTED && !this.unaryPeers.has(node) && !this.closed) {
        this.opts.log.info(`node ${node} does not serve WireProtocol.SendToStream (upstream meshnet): sending each frame with SendToOnce`);
        this.unaryPeers.add(node);
        if (this.peers.get(node) === p) this.peers.delete(node);
        p.client.close();
        this.streamTo(node);
        return;
      }
      broken(e.message);
    });
  }

  /** Like a pulled cable: the node's wires show NO-CARRIER until it answers again. */
  private peerLost(node: string): void {
    if (this.lost.has(node) || this.closed) return;
    this.opts.onCarrier(node, false);
    const timer = setInterval(() => this.probe(node), PROBE_INTERVAL_MS);
    timer.unref();
    this.lost.set(node, timer);
  }

  /** Opens a stream to a lost node; if it survives PROBE_SETTLE_MS, the node is back. */
  private probe(node: string): void {
    if (this.probing.has(node) || this.closed) return;
    this.probing.add(node);
    const client = this.client(node);
    const stream = client.openStream();
    let failed = false;
    stream.done.catch(() => { failed = true; });
    setTimeout(() => {
      this.probing.delete(node);
      if (failed || this.closed) {
        client.close();
        return;
      }
      clearInterval(this.lost.get(node));
      this.lost.delete(node);
      this.adopt(node, { client, stream });
      this.opts.onCarrier(node, true);
    }, PROBE_SETTLE_MS).unref();
  }
}
