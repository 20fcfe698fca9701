// Who may ask this daemon for what. meshnetd's gRPC port is reachable from the node network, and a
// request names network namespaces, interfaces and addresses: unchecked, anyone could have this
// node create a VXLAN with an address of their choosing in any netns, the node's own included
// (upstream meshnet can be made to). Every request that touches a pod is checked against the store
// before anything is touched: the netns must be a pod that the store says runs on this node, the
// interface one of its Topology's links, the caller the node where that link's peer pod runs, and
// the VNI and address the ones the link implies. Local (upstream's plugin API) is served to this
// node only. A refusal is PERMISSION_DENIED naming the reason, and counted.
import { isIP } from 'node:net';
import { GrpcStatusError, type CallContext, type LocalHandlers } from '../grpc';
import { vniOf, type VniScheme } from '../meshnet/vxlan';
import type { RemoteEnd, RemoteEndRef } from '../meshnet/remote';
import { isAlive, type Link, type Topology } from '../topology';

/** The Topologies of a namespace: `cached` from the reconciler's informer, `fresh` from the store. */
export interface TopologySource {
  cached(namespace: string): Topology[];
  fresh(namespace: string): Promise<Topology[]>;
  freshOne(namespace: string, name: string): Promise<Topology | undefined>;
}

export class PermissionDenied extends GrpcStatusError {
  constructor(message: string) {
    super('PERMISSION_DENIED', message);
  }
}

/** Whether an address is this host's loopback (127.0.0.0/8, ::1). */
export function isLoopback(address: string): boolean {
  return address === '::1' || (isIP(address) === 4 && address.startsWith('127.'));
}

export class PeerAuthorizer {
  /** Refusals so far, by method: for the metrics endpoint. */
  readonly denied = new Map<string, number>();

  constructor(private readonly o: { nodeIp: string; vniScheme: VniScheme; topologies: TopologySource; log: (s: string) => void }) {}

  private deny(call: CallContext, reason: string): never {
    this.denied.set(call.method, (this.denied.get(call.method) ?? 0) + 1);
    this.o.log(`grpc: ${call.method} from ${call.peerAddress || '(unknown)'} refused: ${reason}`);
    throw new PermissionDenied(reason);
  }

  /** Local is upstream's plugin talking to its own node's daemon: loopback callers only. */
  local(call: CallContext): void {
    if (!isLoopback(call.peerAddress)) this.deny(call, `Local is served to this node only (loopback), not to ${call.peerAddress || 'an unknown caller'}`);
  }

  /**
   * Remote.Update: the caller wants this node's end of a VXLAN made in one of its pods. Judged on
   * the informer's view first; a refusal is judged again on a fresh read, since a peer that has
   * just come up calls right after writing its status and the watch may not have brought it yet.
   */
  async update(end: RemoteEnd, call: CallContext): Promise<void> {
    const ns = end.kubeNs || 'default';
    const cached = this.o.topologies.cached(ns);
    let why = this.judgeUpdate(end, ns, cached, call.peerAddress);
    if (why) {
      // Usually only the peer is newer than the cache (its ADD wrote its status and called at
      // once): read that one object; the whole namespace only when our own pod is not known yet.
      const me = this.podOf(end, cached);
      const peerName = me?.spec.links.find((l) => l.local_intf === end.intfName)?.peer_pod;
      let fresh: Topology[];
      if (me && peerName) {
        const peer = await this.o.topologies.freshOne(ns, peerName);
        fresh = [...cached.filter((t) => t.metadata.name !== peerName), ...(peer ? [peer] : [])];
      } else fresh = await this.o.topologies.fresh(ns);
      why = this.judgeUpdate(end, ns, fresh, call.peerAddress);
    }
    if (why) this.deny(call, why);
  }

  /** The pod of this node whose netns the request names. */
  private podOf(end: RemoteEnd, topologies: Topology[]): Topology | undefined {
    return topologies.find((t) => isAlive(t) && t.status!.src_ip === this.o.nodeIp && t.status!.net_ns === end.netNs);
  }

  private judgeUpdate(end: RemoteEnd, ns: string, topologies: Topology[], caller: string): string | undefined {
    const me = this.podOf(end, topologies);
    if (!me) return `no pod of namespace ${ns} runs on this node (${this.o.nodeIp}) in netns ${end.netNs}`;
    const pod = `${ns}/${me.metadata.name}`;
    const link = me.spec.links.find((l) => l.local_intf === end.intfName);
    if (!link) return `pod ${pod} has no link on interface ${end.intfName}`;
    const peer = topologies.find((t) => t.metadata.name === link.peer_pod);
    if (!peer || !isAlive(peer) || peer.status!.src_ip !== end.peerVtep) return `link uid ${link.uid} of ${pod}: its peer pod ${link.peer_pod} is not up on node ${end.peerVtep}`;
    if (caller !== end.peerVtep) return `link uid ${link.uid} of ${pod}: the request comes from ${caller || 'an unknown address'}, not from node ${end.peerVtep} where its peer pod runs`;
    const vni = vniOf(link.uid, ns, this.o.vniScheme);
    if (end.vni !== vni) return `link uid ${link.uid} of ${pod}: VNI ${end.vni} is not the link's (${vni})`;
    if (end.intfIp && !addressesOf(link, peer).includes(end.intfIp)) return `link uid ${link.uid} of ${pod}: address ${end.intfIp} is not the one its Topologies give`;
    return undefined;
  }

  /**
   * RemoteExt.RemoveEnd removes only a meshnet VXLAN whose remote is the request's peer_vtep
   * (remote-end.ts): the caller must be that node, so a node can only cut the links towards itself.
   */
  removeEnd(ref: RemoteEndRef, call: CallContext): void {
    if (call.peerAddress !== ref.peerVtep) this.deny(call, `the request comes from ${call.peerAddress || 'an unknown address'}, not from node ${ref.peerVtep} whose links it asks to remove`);
  }
}

/** The addresses a far end may be given: its own half's local_ip, or the peer's peer_ip for it. */
function addressesOf(link: Link, peer: Topology): string[] {
  const theirs = peer.spec.links.find((l) => l.uid === link.uid);
  return [link.local_ip, theirs?.peer_ip].filter((a): a is string => !!a);
}

/** Local's handlers, each refusing callers from off this node first. */
export function loopbackOnly(handlers: Partial<LocalHandlers>, auth: PeerAuthorizer): Partial<LocalHandlers> {
  const out: Record<string, unknown> = {};
  for (const [name, h] of Object.entries(handlers)) {
    if (typeof h !== 'function') continue;
    out[name] = (req: unknown, call: CallContext) => {
      auth.local(call);
      return (h as (req: unknown, call: CallContext) => unknown)(req, call);
    };
  }
  return out as Partial<LocalHandlers>;
}
