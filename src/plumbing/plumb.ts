// Carrying out a link plan in the kernel, and asking peer nodes' daemons for the far ends of
// cross-node links: what CNI ADD and DEL do for each link (and what a reconciler will do).
import { vniOf, plumbVxlanEnd, type VniScheme } from './vxlan';
import { NODE_NETNS, type Handles } from './handles';
import { plumbMacvlan, plumbVeth } from './links';
import { planLinks, wireSides, type InterNodeLinkType, type LinkPlan, type PodRef } from './plan';
import type { RemoteLinker, WireLinker } from './far-node';
import type { Topology } from '../topology';

export interface PlumbDeps {
  /** Reaches peer nodes' daemons for the far end of cross-node links. */
  remote: RemoteLinker;
  /** grpc-wire dataplane; only meshnetd has one. */
  wires?: WireLinker;
  /** The underlay interface for VXLAN ends (upstream's HOST_INTF); default: the node IP's. */
  hostIntf?: string;
  /** Turn tx offloads off on veth ends (upstream's behaviour). */
  disableTxOffloads: boolean;
  /** How VXLAN VNIs are numbered (every daemon of the cluster alike). */
  vniScheme: VniScheme;
  /**
   * Make only this node's end of a VXLAN, never ask the peer node for the far end. The reconciler
   * sets it: every node's reconciler keeps its own ends, so asking would only duplicate the peer's
   * work (measured: 1,464 extra Remote.Update calls when two 1,500-link pods start together). CNI
   * ADD leaves it unset and asks for every far end, as upstream does, so a pod starts with both
   * ends in place and upstream peers (which do not reconcile) get theirs.
   */
  ownEndsOnly?: boolean;
  /**
   * Set when a reconciler runs beside the call (meshnetd): a peer node whose daemon does not answer
   * (a gRPC failure) for a cross-node link's far end does not fail the call: the reconcilers make
   * the link once it answers. Unset (the standalone plugin) such a failure fails the call, as upstream.
   */
  farEnds?: FarEndFailures;
}

/**
 * A call to a peer node's daemon that failed (grpc's GrpcCallError, told by name: the standalone
 * plugin must not load the gRPC stack to ask).
 */
function isPeerCallError(e: unknown): e is Error {
  return e instanceof Error && e.name === 'GrpcCallError';
}

/**
 * Peer nodes that did not answer during one CNI call: each is asked once, then skipped for the
 * rest of the call, so a 1,500-link ADD towards a dead node waits one RPC timeout, not 1,500.
 */
export class FarEndFailures {
  private readonly failed = new Map<string, string>();
  /** The links whose far end was not made (failed, or skipped after its node failed), by uid. */
  readonly links = new Map<number, { node: string; why: string }>();

  /** True (and the link noted) when `node` already failed in this call. */
  skips(node: string, uid?: number): boolean {
    const why = this.failed.get(node);
    if (why === undefined) return false;
    if (uid !== undefined) this.links.set(uid, { node, why });
    return true;
  }

  note(node: string, e: Error, uid?: number): void {
    if (!this.failed.has(node)) this.failed.set(node, e.message);
    if (uid !== undefined) this.links.set(uid, { node, why: this.failed.get(node)! });
  }

  /** One line per node, for plumbing_error. */
  describe(): string[] {
    return [...this.failed].map(([node, why]) => `the far ends of links to node ${node} were not made (${why}); that node's meshnetd makes them when it sees this pod`);
  }
}

/** This pod's end of one planned link (and, for a cross-node link, the far end through the peer's daemon). */
export async function plumbLink(p: LinkPlan, pod: PodRef, podNetns: string, nodeIp: string, h: Handles, deps: PlumbDeps): Promise<void> {
  const { link } = p;
  // A pulled cable (state: down): the ends are made, or kept, admin-down.
  const down = link.state === 'down';
  const local = () => ({ ...h.end(podNetns, link.local_intf, link.local_ip), down });
  const veth = { disableTxOffloads: deps.disableTxOffloads, ...(link.mtu ? { mtu: link.mtu } : {}) };
  if (p.action === 'veth') plumbVeth(local(), { ...h.end(p.peerNetns, link.peer_intf, p.peerIp), down }, veth);
  else if (p.action === 'self') plumbVeth(local(), { ...h.end(podNetns, link.peer_intf, link.peer_ip), down }, veth);
  // The node's own netns (where the plugin or daemon runs) holds the macvlan's parent.
  else if (p.action === 'macvlan') plumbMacvlan(h.get(NODE_NETNS).rtnl, link.peer_intf, local(), link.uid);
  else if (p.action === 'vxlan') {
    const vni = vniOf(link.uid, pod.namespace, deps.vniScheme);
    plumbVxlanEnd(h.get(NODE_NETNS).rtnl, local(), { vni, remote: p.peerNode, local: nodeIp, ...(deps.hostIntf ? { dev: deps.hostIntf } : {}) });
    if (deps.ownEndsOnly || deps.farEnds?.skips(p.peerNode, link.uid)) return;
    // The far end is the peer node's to make, in its own netns: ask its daemon.
    try {
      await deps.remote.update(p.peerNode, {
        netNs: p.peerNetns, intfName: link.peer_intf, intfIp: p.peerIp ?? '', peerVtep: nodeIp,
        kubeNs: pod.namespace, vni, nodeIntf: '',
      });
    } catch (e) {
      if (!deps.farEnds || !isPeerCallError(e)) throw e;
      deps.farEnds.note(p.peerNode, e, link.uid);
    }
  } else if (p.action === 'grpc') {
    if (!deps.wires) throw new Error('grpc-wire links need meshnetd on this node (its dataplane carries the frames)');
    if (deps.farEnds?.skips(p.peerNode, link.uid)) return;
    const [mine, peer] = wireSides(pod, link, podNetns, nodeIp, p);
    try {
      await deps.wires.connect(mine, peer, link.uid);
    } catch (e) {
      // The wire linker leaves no half wire, so the reconciler of whichever side starts wires
      // makes this one once the peer's daemon answers.
      if (!deps.farEnds || !isPeerCallError(e)) throw e;
      deps.farEnds.note(p.peerNode, e, link.uid);
    }
  }
}

/**
 * Cross-node links: the far end lives on the peer's node, so ask its daemon to remove it, as a
 * pulled cable takes both ends down (upstream left it up, silently blackholing). Best effort: a
 * pod's removal must not fail because a peer node is down; that end goes when its own pod is
 * deleted. Returns what could not be removed.
 */
export async function removeFarEnds(me: Topology, peers: Map<string, Topology>, interNode: InterNodeLinkType | undefined, deps: Pick<PlumbDeps, 'remote' | 'wires' | 'vniScheme'>): Promise<string[]> {
  const failures: string[] = [];
  const pod = { namespace: me.metadata.namespace, name: me.metadata.name };
  const todo = planLinks(me, peers, interNode).filter((p): p is Extract<LinkPlan, { action: 'vxlan' | 'grpc' }> => p.action === 'vxlan' || p.action === 'grpc');
  // Several requests in flight: the peer's daemon removes the ends that arrive together as one
  // kernel batch (one RCU grace period for all, where one at a time pays one per link).
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const p = todo[next++]!;
      try {
        if (p.action === 'vxlan') {
          await deps.remote.remove(p.peerNode, { netNs: p.peerNetns, intfName: p.link.peer_intf, vni: vniOf(p.link.uid, pod.namespace, deps.vniScheme), peerVtep: me.status!.src_ip! });
        } else if (deps.wires) {
          await deps.wires.disconnect(...wireSides(pod, p.link, me.status!.net_ns!, me.status!.src_ip!, p), p.link.uid);
        }
      } catch (e) {
        failures.push(`the far end of link uid ${p.link.uid} on node ${p.peerNode}: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(FAR_END_CONCURRENCY, todo.length) }, worker));
  return failures;
}

/** Far-end removals in flight at once. */
const FAR_END_CONCURRENCY = 64;
