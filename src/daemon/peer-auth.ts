// Who may ask this daemon for what. meshnetd's gRPC port is reachable from the node network, and a
// request names network namespaces, interfaces and addresses: unchecked, anyone could have this
// node create a VXLAN with an address of their choosing in any netns, the node's own included
// (upstream meshnet can be made to). Every request that touches a pod is checked against the store
// before anything is touched: the netns must be a pod that the store says runs on this node, the
// interface one of its Topology's links, the caller the node where that link's peer pod runs, and
// the VNI and address the ones the link implies. Local (upstream's plugin API) is served to this
// node only. A refusal is PERMISSION_DENIED naming the reason, and counted.
import { isIP } from 'node:net';
import { GrpcStatusError, Status, type CallContext, type LocalHandlers, type WireDef } from '../grpc';
import { vniOf, type VniScheme } from '../plumbing/vxlan';
import type { RemoteEnd, RemoteEndRef } from '../plumbing/far-node';
import { isAlive, type Link, type Topology } from '../topology';
import type { Logger } from '../log';

/** The Topologies of a namespace: `cached` from the reconciler's informer, `fresh` from the store. */
export interface TopologySource {
  cached(namespace: string): Topology[];
  fresh(namespace: string): Promise<Topology[]>;
  freshOne(namespace: string, name: string): Promise<Topology | undefined>;
}

export class PermissionDenied extends GrpcStatusError {
  constructor(message: string) {
    super(Status.PERMISSION_DENIED, message);
  }
}

/** Whether an address is this host's loopback (127.0.0.0/8, ::1). */
export function isLoopback(address: string): boolean {
  return address === '::1' || (isIP(address) === 4 && address.startsWith('127.'));
}

export class PeerAuthorizer {
  /** Refusals so far, by method: for the metrics endpoint. */
  readonly denied = new Map<string, number>();

  constructor(private readonly opts: { nodeIp: string; vniScheme: VniScheme; topologies: TopologySource; log: Logger }) {}

  private deny(call: CallContext, reason: string): never {
    this.denied.set(call.method, (this.denied.get(call.method) ?? 0) + 1);
    this.opts.log.warn(`grpc: ${call.method} from ${call.peerAddress || '(unknown)'} refused: ${reason}`);
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
    const cached = this.opts.topologies.cached(ns);
    let why = this.judgeUpdate(end, ns, cached, call.peerAddress);
    if (why) {
      // Usually only the peer is newer than the cache (its ADD wrote its status and called at
      // once): read that one object; the whole namespace only when our own pod is not known yet.
      const peerName = this.podOf(end, cached)?.spec.links.find((l) => l.local_intf === end.intfName)?.peer_pod;
      why = this.judgeUpdate(end, ns, peerName ? await this.withFresh(ns, cached, [peerName]) : await this.opts.topologies.fresh(ns), call.peerAddress);
    }
    if (why) this.deny(call, why);
  }

  /** The pod of this node whose netns the request names. */
  private podOf(end: RemoteEnd, topologies: Topology[]): Topology | undefined {
    return topologies.find((t) => isAlive(t) && t.status!.src_ip === this.opts.nodeIp && t.status!.net_ns === end.netNs);
  }

  private judgeUpdate(end: RemoteEnd, ns: string, topologies: Topology[], caller: string): string | undefined {
    const me = this.podOf(end, topologies);
    if (!me) return `no pod of namespace ${ns} runs on this node (${this.opts.nodeIp}) in netns ${end.netNs}`;
    const pod = `${ns}/${me.metadata.name}`;
    const link = me.spec.links.find((l) => l.local_intf === end.intfName);
    if (!link) return `pod ${pod} has no link on interface ${end.intfName}`;
    const why = this.judgePeer(`link uid ${link.uid} of ${pod}`, link, topologies, end.peerVtep, caller, end.intfIp);
    if (why) return why;
    const vni = vniOf(link.uid, ns, this.opts.vniScheme);
    if (end.vni !== vni) return `link uid ${link.uid} of ${pod}: VNI ${end.vni} is not the link's (${vni})`;
    return undefined;
  }

  /**
   * Remote.AddGRPCWireRemote (and each item of the batch): the caller wants this node's end of a
   * grpc-wire made for one of its pods. The same rules as Update, with the pod and link named as
   * upstream's WireDef names them (pod name, link uid, interface).
   */
  /**
   * Whether a pod still runs on this node in `netns` (a fresh read): a wire end made for it while
   * its DEL ran concurrently is undone (wire-linker.ts).
   */
  async stillHere(namespace: string, name: string, netns: string): Promise<boolean> {
    const t = await this.opts.topologies.freshOne(namespace, name);
    return !!t && isAlive(t) && t.status?.net_ns === netns && t.status?.src_ip === this.opts.nodeIp;
  }

  /**
   * Whether a pod of this node (in `netns`, by the informer's view) still lists a link on `intf`:
   * a wire end whose far pod went away then stays, with NO-CARRIER, rather than being removed.
   */
  stillListed(namespace: string, name: string, netns: string, intf: string): boolean {
    const t = this.opts.topologies.cached(namespace).find((x) => x.metadata.name === name);
    return !!t && isAlive(t) && t.status!.src_ip === this.opts.nodeIp && t.status!.net_ns === netns && t.spec.links.some((l) => l.local_intf === intf);
  }

  /** Judges AddGRPCWireRemote; the link it is for, as this pod's Topology lists it (its MTU, say). */
  async wireAdd(req: WireDef, call: CallContext): Promise<Link | undefined> {
    const ns = req.topoNs || 'default';
    const uid = Number(req.linkUid);
    let found: Link | undefined;
    const judge = (topologies: Topology[]) => {
      const me = topologies.find((t) => t.metadata.name === req.localPodName);
      if (!me || !isAlive(me) || me.status!.src_ip !== this.opts.nodeIp || me.status!.net_ns !== req.localPodNetNs) {
        return `pod ${ns}/${req.localPodName} does not run on this node (${this.opts.nodeIp}) in netns ${req.localPodNetNs}`;
      }
      const link = me.spec.links.find((l) => l.uid === uid && l.local_intf === req.intfNameInPod);
      if (!link) return `pod ${ns}/${req.localPodName} has no link uid ${uid} on interface ${req.intfNameInPod}`;
      found = link;
      return this.judgePeer(`link uid ${uid} of ${ns}/${req.localPodName}`, link, topologies, req.peerNodeIp, call.peerAddress, req.localPodIp);
    };
    const cached = this.opts.topologies.cached(ns);
    let why = judge(cached);
    if (why) {
      // Both pods the request names may be newer than the cache: the peer (its ADD wrote its status
      // and called at once) and this node's own pod (its ADD wrote its status a moment before; a
      // refusal judged on the stale half left lab up with a half-made wire: issue 21).
      const peerName = cached.find((t) => t.metadata.name === req.localPodName)?.spec.links.find((l) => l.uid === uid)?.peer_pod;
      why = judge(peerName ? await this.withFresh(ns, cached, [req.localPodName, peerName]) : await this.opts.topologies.fresh(ns));
    }
    if (why) this.deny(call, why);
    return found;
  }

  /**
   * Remote.GRPCWireDownRemote: only the node at the other end of the wire may take it down
   * (`peerNode`: the wire end's, or undefined when this node has no such end).
   */
  wireDown(peerNode: string | undefined, call: CallContext): void {
    if (peerNode !== undefined && peerNode !== call.peerAddress) this.deny(call, `the wire's other end is on node ${peerNode}, not ${call.peerAddress || 'an unknown address'}`);
  }

  /** The cached namespace with the named objects read afresh. */
  private async withFresh(ns: string, cached: Topology[], names: string[]): Promise<Topology[]> {
    const fresh = await Promise.all(names.map((n) => this.opts.topologies.freshOne(ns, n)));
    return [...cached.filter((x) => !names.includes(x.metadata.name)), ...fresh.filter((t): t is Topology => !!t)];
  }

  /** The link's peer pod must be up on `peerNode`, the caller must be that node, the address the link's. */
  private judgePeer(what: string, link: Link, topologies: Topology[], peerNode: string, caller: string, addr: string): string | undefined {
    const peer = topologies.find((t) => t.metadata.name === link.peer_pod);
    if (!peer || !isAlive(peer) || peer.status!.src_ip !== peerNode) return `${what}: its peer pod ${link.peer_pod} is not up on node ${peerNode}`;
    if (caller !== peerNode) return `${what}: the request comes from ${caller || 'an unknown address'}, not from node ${peerNode} where its peer pod runs`;
    if (addr && !addressesOf(link, peer).includes(addr)) return `${what}: address ${addr} is not the one its Topologies give`;
    return undefined;
  }

  /**
   * RemoteExt.RemoveEnd removes only a meshnet VXLAN whose remote is the request's peer_vtep
   * (plumbing/far-end.ts): the caller must be that node, so a node can only cut the links towards itself.
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
