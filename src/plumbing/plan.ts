// Link planning: what each link of a pod needs, decided from the pod's Topology and its peers'
// (pure: no kernel, no store). Same node → veth; another node → VXLAN or grpc-wire; the pod itself
// → a self link; `localhost` → macvlan; a peer not up yet → wait (its own ADD plumbs the link).
import { netnsPathExists } from '../kernel';
import {
  LOCALHOST_PEER, TopologyClient, isAlive, topologyWhere, wantsWire,
  type BadLink, type Link, type Topology, type TopologyStatus,
} from '../topology';
import type { WireSide } from './far-node';
import { vniOf, type VniScheme } from './vxlan';

export type InterNodeLinkType = 'vxlan' | 'grpc';

export interface PodRef {
  namespace: string;
  name: string;
}

/** What one call decides about each link, before touching the kernel. */
export type LinkPlan =
  | { link: Link; action: 'veth'; peerNetns: string; peerIp?: string }
  | { link: Link; action: 'self' }
  | { link: Link; action: 'macvlan' }
  /** The peer is not up (or its sandbox is gone): its own ADD will plumb the link. */
  | { link: Link; action: 'wait' }
  | { link: Link; action: 'vxlan' | 'grpc'; peerNode: string; peerNetns: string; peerIp?: string };

export function linkLabel(pod: PodRef, l: Link): string {
  return `link uid ${l.uid} (${pod.name}:${l.local_intf} – ${l.peer_pod}:${l.peer_intf})`;
}

/** A bad link's error without the object prefix: `spec.links[1].local_intf: ...`. */
function badLinkText(t: Topology, b: BadLink): string {
  const prefix = `${topologyWhere(t.metadata.namespace, t.metadata.name)}.`;
  return b.error.message.startsWith(prefix) ? b.error.message.slice(prefix.length) : b.error.message;
}

/** Why links of `me` are not plumbed though listed: its own bad links, and links whose peer's half is bad. */
export function linkProblems(me: Topology, peers: Map<string, Topology>): { problems: string[]; skip: Set<number> } {
  const problems = TopologyClient.badLinks(me).map((b) => badLinkText(me, b));
  const skip = new Set<number>();
  for (const link of me.spec.links) {
    const peer = peers.get(link.peer_pod);
    const bad = peer && link.peer_pod !== me.metadata.name ? TopologyClient.badLinks(peer).find((b) => b.uid === link.uid) : undefined;
    if (!bad || !peer) continue;
    skip.add(link.uid);
    problems.push(`link uid ${link.uid}: the peer's half is invalid (${topologyWhere(peer.metadata.namespace, peer.metadata.name)} ${badLinkText(peer, bad)})`);
  }
  return { problems, skip };
}

/** The plan for every link of `me` (alive), given its peers by name; `skip` leaves links out. */
export function planLinks(me: Topology, peers: Map<string, Topology>, interNode: InterNodeLinkType = 'vxlan', skip = new Set<number>()): LinkPlan[] {
  const plans: LinkPlan[] = [];
  for (const link of me.spec.links) {
    if (skip.has(link.uid)) continue;
    if (link.peer_pod === LOCALHOST_PEER) { plans.push({ link, action: 'macvlan' }); continue; }
    if (link.peer_pod === me.metadata.name) { plans.push({ link, action: 'self' }); continue; }
    const peer = peers.get(link.peer_pod);
    if (!peer || !isAlive(peer)) {
      plans.push({ link, action: 'wait' });
      continue;
    }
    // The peer's own Topology says which address its end gets; ours is the fallback.
    const peerIp = peer.spec.links.find((l) => l.uid === link.uid)?.local_ip ?? link.peer_ip;
    const { src_ip: peerNode, net_ns: peerNetns } = peer.status as Required<Pick<TopologyStatus, 'src_ip' | 'net_ns'>>;
    const sameNode = peerNode === me.status!.src_ip;
    // A record that outlived its sandbox (its DEL never ran): the peer's next ADD will plumb.
    if (sameNode && !netnsPathExists(peerNetns)) plans.push({ link, action: 'wait' });
    // A link that asks to be a wire (link_type: grpc, or impaired) is one, on one node too.
    else if (wantsWire(link, peer)) plans.push({ link, action: 'grpc', peerNode, peerNetns, peerIp });
    else if (!sameNode) plans.push({ link, action: interNode, peerNode, peerNetns, peerIp });
    else plans.push({ link, action: 'veth', peerNetns, peerIp });
  }
  return plans;
}

/** Both ends of a grpc-wire link as the wire linker takes them. */
export function wireSides(pod: PodRef, link: Link, netns: string, nodeIp: string, p: { peerNode: string; peerNetns: string; peerIp?: string }): [WireSide, WireSide] {
  return [
    { namespace: pod.namespace, pod: pod.name, intf: link.local_intf, netns, ip: link.local_ip, node: nodeIp, ...(link.mtu ? { mtu: link.mtu } : {}) },
    { namespace: pod.namespace, pod: link.peer_pod, intf: link.peer_intf, netns: p.peerNetns, ip: p.peerIp, node: p.peerNode },
  ];
}

/** A link's identity across namespaces: uids are unique only within one. */
const linkKey = (ns: string, uid: number) => `${ns}\u0000${String(uid).padStart(10, '0')}`;

/**
 * VXLAN links of `me` whose VNI another cross-node link already uses on one of the same nodes (a
 * VXLAN per VNI and port per node: the kernel would refuse the second with EEXIST). Of two
 * colliding links the one with the smaller (namespace, uid) keeps the VNI, so both nodes decide
 * alike; the other is left out with a message naming both. `all`: every Topology, all namespaces.
 */
export function vniCollisions(me: Topology, plans: LinkPlan[], all: Topology[], scheme: VniScheme): Map<number, string> {
  const out = new Map<number, string>();
  const mine = plans.filter((p): p is Extract<LinkPlan, { action: 'vxlan' | 'grpc' }> => p.action === 'vxlan');
  if (mine.length === 0) return out;
  const byNs = new Map<string, Map<string, Topology>>();
  for (const t of all) (byNs.get(t.metadata.namespace) ?? byNs.set(t.metadata.namespace, new Map()).get(t.metadata.namespace)!).set(t.metadata.name, t);
  // Every other alive cross-node link, by VNI: its nodes and a label.
  const used = new Map<number, { key: string; nodes: string[]; label: string }[]>();
  for (const t of all) {
    if (!isAlive(t)) continue;
    const ns = t.metadata.namespace;
    for (const l of t.spec.links) {
      const peer = byNs.get(ns)?.get(l.peer_pod);
      if (!peer || !isAlive(peer) || peer.status!.src_ip === t.status!.src_ip) continue;
      let vni: number;
      try {
        vni = vniOf(l.uid, ns, scheme);
      } catch {
        continue;
      }
      const list = used.get(vni) ?? used.set(vni, []).get(vni)!;
      list.push({ key: linkKey(ns, l.uid), nodes: [t.status!.src_ip!, peer.status!.src_ip!], label: `uid ${l.uid} in namespace ${ns} (${t.metadata.name}:${l.local_intf} – ${l.peer_pod}:${l.peer_intf})` });
    }
  }
  for (const p of mine) {
    const ns = me.metadata.namespace;
    const key = linkKey(ns, p.link.uid);
    const vni = vniOf(p.link.uid, ns, scheme);
    const nodes = [me.status!.src_ip!, p.peerNode];
    const other = (used.get(vni) ?? []).find((o) => o.key !== key && o.key < key && o.nodes.some((n) => nodes.includes(n)));
    if (other) {
      out.set(p.link.uid, `${linkLabel({ namespace: ns, name: me.metadata.name }, p.link)}: VXLAN VNI ${vni} (vni_scheme ${scheme}) is already used by link ${other.label} on a shared node; not plumbed`);
    }
  }
  return out;
}

/**
 * A pod's links, planned as every caller plans them (CNI ADD and CHECK, the reconciler): bad links
 * left out and named, a plan per link, and VXLAN links whose VNI another cross-node link already
 * holds on a shared node left out and named. `all` gives every Topology (of every namespace),
 * asked for only when a VXLAN link needs the check.
 */
export async function planPod(me: Topology, peers: Map<string, Topology>, opts: {
  interNodeLinkType: InterNodeLinkType | undefined; vniScheme: VniScheme; all: () => Topology[] | Promise<Topology[]>;
}): Promise<{ plans: LinkPlan[]; problems: string[] }> {
  const { problems, skip } = linkProblems(me, peers);
  let plans = planLinks(me, peers, opts.interNodeLinkType, skip);
  if (plans.some((p) => p.action === 'vxlan')) {
    const collisions = vniCollisions(me, plans, await opts.all(), opts.vniScheme);
    problems.push(...collisions.values());
    plans = plans.filter((p) => !collisions.has(p.link.uid));
  }
  return { plans, problems };
}
