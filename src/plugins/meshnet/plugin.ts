// meshnet ADD / CHECK / DEL: veth between pods on this node, VXLAN to pods on other nodes (the
// far end made by the peer node's daemon on request), self links (both ends in one pod) and
// macvlan to a host interface. The pod whose ADD finds its peer alive plumbs the link. The pod's
// eth0 belongs to the main plugin; meshnet returns prevResult unchanged, as upstream does.
import {
  CniError, ErrorCode, emptyResult, requireNetnsPath,
  type CniResult, type PluginContext, type PluginFuncs,
} from '../../cni';
import { NetNs, Rtnl, netnsPathExists } from '../../kernel';
import { openStore } from '../../store';
import { LOCALHOST_PEER, TopologyClient, isAlive, type Link, type Topology, type TopologyStatus } from '../../topology';
import { MeshnetCode } from './codes';
import { parseMeshnetConf, type MeshnetConf } from './config';
import { MESHNET_LINK_GROUP, inspectEnd, isPaired, plumbMacvlan, plumbVeth, type LinkEnd } from './links';
import { nodeIpFromDefaultRoute } from './node-ip';
import type { RemoteLinker, WireLinker, WireSide } from './remote';
import { plumbVxlanEnd, vniOf } from './vxlan';

/** This process's netns: the node's, since runtimes run plugins there and meshnetd runs there. */
const NODE_NETNS = '/proc/self/ns/net';

interface PodRef {
  namespace: string;
  name: string;
}

/** The pod this call is for, or undefined when CNI_ARGS do not name one (not a topology pod). */
function podOf(ctx: PluginContext): PodRef | undefined {
  const { K8S_POD_NAME: name, K8S_POD_NAMESPACE: namespace } = ctx.env.args;
  return name && namespace ? { name, namespace } : undefined;
}

function storeError(e: unknown, what: string): CniError {
  if (e instanceof CniError) return e;
  return new CniError(MeshnetCode.Store, `meshnet store: ${what}`, e instanceof Error ? e.message : String(e));
}

async function readTopology(client: TopologyClient, pod: PodRef): Promise<Topology | undefined> {
  try {
    return await client.get(pod.namespace, pod.name);
  } catch (e) {
    throw storeError(e, `reading Topology ${pod.namespace}/${pod.name}`);
  }
}

/** Opened netns handles and rtnetlink sockets for one call, closed together at the end. */
class Handles {
  private readonly opened: { ns: NetNs; rtnl: Rtnl }[] = [];
  private readonly byPath = new Map<string, { ns: NetNs; rtnl: Rtnl }>();

  get(path: string): { ns: NetNs; rtnl: Rtnl } {
    let h = this.byPath.get(path);
    if (!h) {
      const ns = NetNs.open(path);
      try {
        h = { ns, rtnl: Rtnl.open(ns) };
      } catch (e) {
        ns.close();
        throw e;
      }
      this.byPath.set(path, h);
      this.opened.push(h);
    }
    return h;
  }

  end(path: string, intf: string, ip: string | undefined): LinkEnd {
    const h = this.get(path);
    return { ns: h.ns, rtnl: h.rtnl, intf, ip };
  }

  close(): void {
    for (const h of this.opened) {
      h.rtnl.close();
      h.ns.close();
    }
  }
}

function linkLabel(pod: PodRef, l: Link): string {
  return `link uid ${l.uid} (${pod.name}:${l.local_intf} – ${l.peer_pod}:${l.peer_intf})`;
}

/** What one call decides about each link, before touching the kernel. */
type LinkPlan =
  | { link: Link; action: 'veth'; peerNetns: string; peerIp?: string }
  | { link: Link; action: 'self' }
  | { link: Link; action: 'macvlan' }
  /** The peer is not up (or its sandbox is gone): its own ADD will plumb the link. */
  | { link: Link; action: 'wait' }
  | { link: Link; action: 'vxlan' | 'grpc'; peerNode: string; peerNetns: string; peerIp?: string };

async function planLinks(client: TopologyClient, me: Topology, interNode: InterNodeLinkType = 'vxlan'): Promise<LinkPlan[]> {
  const plans: LinkPlan[] = [];
  for (const link of me.spec.links) {
    if (link.peer_pod === LOCALHOST_PEER) { plans.push({ link, action: 'macvlan' }); continue; }
    if (link.peer_pod === me.metadata.name) { plans.push({ link, action: 'self' }); continue; }
    const peer = await readTopology(client, { namespace: me.metadata.namespace, name: link.peer_pod });
    if (!peer || !isAlive(peer)) {
      plans.push({ link, action: 'wait' });
      continue;
    }
    // The peer's own Topology says which address its end gets; ours is the fallback.
    const peerIp = peer.spec.links.find((l) => l.uid === link.uid)?.local_ip ?? link.peer_ip;
    const { src_ip: peerNode, net_ns: peerNetns } = peer.status as Required<Pick<TopologyStatus, 'src_ip' | 'net_ns'>>;
    if (peerNode !== me.status!.src_ip) plans.push({ link, action: interNode, peerNode, peerNetns, peerIp });
    // A record that outlived its sandbox (its DEL never ran): the peer's next ADD will plumb.
    else if (!netnsPathExists(peerNetns)) plans.push({ link, action: 'wait' });
    else plans.push({ link, action: 'veth', peerNetns, peerIp });
  }
  return plans;
}

/** What every command starts from: this pod's Topology, or undefined for a pod meshnet ignores. */
interface Subject {
  conf: MeshnetConf;
  pod: PodRef;
  client: TopologyClient;
  me: Topology;
}

async function subjectOf(ctx: PluginContext): Promise<Subject | undefined> {
  const conf = parseMeshnetConf(ctx.conf.raw);
  const pod = podOf(ctx);
  if (!pod) return undefined;
  const client = new TopologyClient(openStore(conf.store));
  const me = await readTopology(client, pod);
  return me ? { conf, pod, client, me } : undefined;
}

function resolveNodeIp(conf: MeshnetConf): string {
  const ip = conf.nodeIp ?? nodeIpFromDefaultRoute();
  if (!ip) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'cannot tell this node\'s IP',
      'set "node_ip" in the meshnet config: this node has no default route to derive it from');
  }
  return ip;
}

async function add(ctx: PluginContext, deps: MeshnetDeps): Promise<CniResult> {
  const passThrough = ctx.conf.prevResult ?? emptyResult(ctx.conf.cniVersion);
  const subject = await subjectOf(ctx);
  if (!subject) return passThrough; // not a topology pod
  const { conf, pod, client } = subject;
  requireNetnsPath(ctx.env.netns, ctx.env.command);
  const nodeIp = resolveNodeIp(conf);

  // Alive first, then look at peers: of two pods coming up together at least one sees the other.
  let me: Topology | undefined;
  try {
    me = await client.patchStatus(pod.namespace, pod.name, (s) => ({
      ...s, src_ip: nodeIp, net_ns: ctx.env.netns, container_id: ctx.env.containerId, plumbing_error: undefined,
    }));
  } catch (e) {
    throw storeError(e, `marking ${pod.namespace}/${pod.name} alive`);
  }
  if (!me) return passThrough; // deleted meanwhile

  const plans = await planLinks(client, me, deps.interNodeLinkType);
  const veth = { disableTxOffloads: conf.disableTxOffloads };
  const h = new Handles();
  try {
    for (const p of plans) {
      const { link } = p;
      const local = () => h.end(ctx.env.netns, link.local_intf, link.local_ip);
      try {
        if (p.action === 'veth') plumbVeth(local(), h.end(p.peerNetns, link.peer_intf, p.peerIp), veth);
        else if (p.action === 'self') plumbVeth(local(), h.end(ctx.env.netns, link.peer_intf, link.peer_ip), veth);
        // The node's own netns (where the plugin or daemon runs) holds the macvlan's parent.
        else if (p.action === 'macvlan') plumbMacvlan(h.get(NODE_NETNS).rtnl, link.peer_intf, local(), link.uid);
        else if (p.action === 'vxlan') {
          const vni = vniOf(link.uid);
          plumbVxlanEnd(h.get(NODE_NETNS).rtnl, local(), { vni, remote: p.peerNode, local: nodeIp });
          // The far end is the peer node's to make, in its own netns: ask its daemon.
          await deps.remote.update(p.peerNode, {
            netNs: p.peerNetns, intfName: link.peer_intf, intfIp: p.peerIp ?? '', peerVtep: nodeIp,
            kubeNs: pod.namespace, vni, nodeIntf: '',
          });
        } else if (p.action === 'grpc') {
          if (!deps.wires) throw new Error('grpc-wire links need meshnetd on this node (its dataplane carries the frames)');
          const [local, peer] = wireSides(pod, link, ctx.env.netns, nodeIp, p);
          await deps.wires.connect(local, peer, link.uid);
        }
      } catch (e) {
        const msg = `${linkLabel(pod, link)}: ${e instanceof Error ? e.message : String(e)}`;
        await client.patchStatus(pod.namespace, pod.name, (s) => ({ ...s, plumbing_error: msg })).catch(() => undefined);
        throw new CniError(MeshnetCode.Plumbing, 'meshnet could not plumb a link', msg);
      }
    }
  } finally {
    h.close();
  }
  return passThrough;
}

async function check(ctx: PluginContext, deps: MeshnetDeps): Promise<void> {
  const subject = await subjectOf(ctx);
  if (!subject) return;
  const { pod, client, me } = subject;
  requireNetnsPath(ctx.env.netns, ctx.env.command);
  const fail = (details: string) => new CniError(MeshnetCode.CheckFailed, 'meshnet CHECK failed', details);
  if (me.status?.container_id !== ctx.env.containerId || me.status?.net_ns !== ctx.env.netns) {
    throw fail(`Topology ${pod.namespace}/${pod.name} records container ${me.status?.container_id ?? '(none)'} ` +
      `in ${me.status?.net_ns ?? '(none)'}, not ${ctx.env.containerId} in ${ctx.env.netns}`);
  }
  const h = new Handles();
  try {
    for (const p of await planLinks(client, me, deps.interNodeLinkType)) {
      const { link } = p;
      if (p.action === 'wait') continue;
      const a = h.end(ctx.env.netns, link.local_intf, link.local_ip);
      const st = inspectEnd(a);
      const label = linkLabel(pod, link);
      if (!st.exists) throw fail(`${label}: interface ${link.local_intf} is missing in the pod`);
      if (!st.up) throw fail(`${label}: interface ${link.local_intf} is down`);
      if (!st.hasIp) throw fail(`${label}: interface ${link.local_intf} lacks address ${link.local_ip}`);
      const expectKind = p.action === 'macvlan' || p.action === 'vxlan' ? p.action : 'veth'; // a grpc-wire end is a veth
      if (st.kind !== expectKind) throw fail(`${label}: interface ${link.local_intf} is a ${st.kind ?? 'plain'} link, expected ${expectKind}`);
      if (p.action === 'vxlan') {
        const v = a.rtnl.link(link.local_intf)?.vxlan;
        const vni = vniOf(link.uid);
        if (v?.vni !== vni || v.remote !== p.peerNode) {
          throw fail(`${label}: VXLAN ${link.local_intf} has VNI ${v?.vni} to ${v?.remote}, expected VNI ${vni} to node ${p.peerNode}`);
        }
      }
      if (p.action === 'veth' || p.action === 'self') {
        const b = p.action === 'veth' ? h.end(p.peerNetns, link.peer_intf, undefined) : h.end(ctx.env.netns, link.peer_intf, undefined);
        if (!isPaired(a, b)) throw fail(`${label}: ${link.local_intf} is not paired with ${link.peer_pod}:${link.peer_intf}`);
      }
    }
  } finally {
    h.close();
  }
}

async function del(ctx: PluginContext, deps: MeshnetDeps): Promise<void> {
  const subject = await subjectOf(ctx);
  if (!subject) return;
  const { pod, client, me } = subject;
  // A DEL for another sandbox of this pod (a stale duplicate) must not unplumb the live one.
  if (me.status?.container_id && me.status.container_id !== ctx.env.containerId) return;
  await removeFarEnds(client, me, deps);
  if (ctx.env.netns && netnsPathExists(ctx.env.netns)) {
    const h = new Handles();
    try {
      const { rtnl } = h.get(ctx.env.netns);
      // Deleting one end of a veth removes its peer too: the peer pod sees its link vanish,
      // like a pulled cable, and gets it back when this pod is re-created. Every link meshnet
      // made in this pod carries its device group, so one batched delete removes them all.
      rtnl.deleteGroup(MESHNET_LINK_GROUP);
    } finally {
      h.close();
    }
  }
  try {
    await client.patchStatus(pod.namespace, pod.name, (s) => ({
      ...s, src_ip: undefined, net_ns: undefined, container_id: undefined, plumbing_error: undefined,
    }));
  } catch (e) {
    throw storeError(e, `clearing status of ${pod.namespace}/${pod.name}`);
  }
}

/**
 * Cross-node links: the far end lives on the peer's node, so ask its daemon to remove it, as a
 * pulled cable takes both ends down (upstream left it up, silently blackholing). Best effort: a
 * DEL must not fail because a peer node is down; that end goes when its own pod is deleted.
 */
async function removeFarEnds(client: TopologyClient, me: Topology, deps: MeshnetDeps): Promise<void> {
  if (!isAlive(me)) return;
  const pod = { namespace: me.metadata.namespace, name: me.metadata.name };
  for (const p of await planLinks(client, me, deps.interNodeLinkType)) {
    if (p.action !== 'vxlan' && p.action !== 'grpc') continue;
    try {
      if (p.action === 'vxlan') {
        await deps.remote.remove(p.peerNode, { netNs: p.peerNetns, intfName: p.link.peer_intf, vni: vniOf(p.link.uid), peerVtep: me.status!.src_ip! });
      } else if (deps.wires) {
        await deps.wires.disconnect(...wireSides(pod, p.link, me.status!.net_ns!, me.status!.src_ip!, p));
      }
    } catch (e) {
      process.stderr.write(`meshnet DEL: could not remove the far end of link uid ${p.link.uid} on node ${p.peerNode}: ${(e as Error).message}\n`);
    }
  }
}

export type InterNodeLinkType = 'vxlan' | 'grpc';

/** Both ends of a grpc-wire link as the wire linker takes them. */
function wireSides(pod: PodRef, link: Link, netns: string, nodeIp: string, p: { peerNode: string; peerNetns: string; peerIp?: string }): [WireSide, WireSide] {
  return [
    { namespace: pod.namespace, pod: pod.name, intf: link.local_intf, netns, ip: link.local_ip, node: nodeIp },
    { namespace: pod.namespace, pod: link.peer_pod, intf: link.peer_intf, netns: p.peerNetns, ip: p.peerIp, node: p.peerNode },
  ];
}

export interface MeshnetDeps {
  /** Reaches peer nodes' daemons for the far end of cross-node links. */
  remote: RemoteLinker;
  /** How pods on different nodes are linked (upstream's INTER_NODE_LINK_TYPE); default vxlan. */
  interNodeLinkType?: InterNodeLinkType;
  /** grpc-wire dataplane; only meshnetd has one. */
  wires?: WireLinker;
}

export function createMeshnetPlugin(deps: MeshnetDeps): PluginFuncs {
  return {
    about: 'meshnet: point-to-point links between pods from Topology objects',
    add: (ctx) => add(ctx, deps),
    check: (ctx) => check(ctx, deps),
    del: (ctx) => del(ctx, deps),
  };
}
