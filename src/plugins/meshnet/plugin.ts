// meshnet ADD / CHECK / DEL: veth between pods on this node, VXLAN to pods on other nodes (the
// far end made by the peer node's daemon on request), self links (both ends in one pod) and
// macvlan to a host interface. The pod whose ADD finds its peer alive plumbs the link. The pod's
// eth0 belongs to the main plugin; meshnet returns prevResult unchanged, as upstream does.
import {
  CniError, ErrorCode, emptyResult, requireNetnsPath,
  type CniResult, type PluginContext, type PluginFuncs,
} from '../../cni';
import { netnsPathExists } from '../../kernel';
import { Handles } from '../../plumbing/handles';
import { MESHNET_LINK_GROUP, inspectEnd, isPaired } from '../../plumbing/links';
import { nodeIpFromDefaultRoute } from '../../plumbing/node-ip';
import { linkLabel, planPod, type InterNodeLinkType, type LinkPlan, type PodRef } from '../../plumbing/plan';
import { FarEndFailures, plumbLink, removeFarEnds } from '../../plumbing/plumb';
import type { RemoteLinker, WireLinker } from '../../plumbing/far-node';
import { vniOf, type VniScheme } from '../../plumbing/vxlan';
import { openStore, type Store } from '../../store';
import { TopologyClient, cablePulled, isAlive, withDefaultMtu, type Topology } from '../../topology';
import { MeshnetCode } from './codes';
import { parseMeshnetConf, type MeshnetConf } from './config';
import { createLogger, type Logger } from '../../log';

export type { InterNodeLinkType } from '../../plumbing/plan';
import { delegateConf, runDelegate } from './delegate';

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

/** The pod's peers, by name: one list of its namespace (one request, whatever the link count). */
async function readPeers(client: TopologyClient, namespace: string): Promise<Map<string, Topology>> {
  try {
    return new Map((await client.list(namespace)).map((t) => [t.metadata.name, t]));
  } catch (e) {
    throw storeError(e, `listing Topologies in namespace ${namespace}`);
  }
}

/** What every command starts from: this pod's Topology, or undefined for a pod meshnet ignores. */
interface Subject {
  conf: MeshnetConf;
  pod: PodRef;
  client: TopologyClient;
  me: Topology;
}

/** The store this call uses: meshnetd's own when it serves the call, else the config's "store". */
async function storeFor(conf: MeshnetConf, deps: MeshnetDeps): Promise<Store> {
  if (deps.store) {
    if (conf.store !== undefined && conf.store !== deps.store.ref) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'meshnet config and meshnetd disagree on the store',
        `the config's "store" is ${JSON.stringify(conf.store)} but meshnetd on this node serves ${JSON.stringify(deps.store.ref)}: ` +
        'remove "store" from the config (meshnetd\'s --store is the one setting) or make them equal');
    }
    return deps.store.store;
  }
  if (conf.store === undefined) {
    throw new CniError(ErrorCode.TryAgainLater, 'meshnetd is not running on this node',
      'no meshnetd answered on this node\'s socket and the meshnet config names no "store" to use without it: start meshnetd (kubelet retries the call)');
  }
  try {
    return await openStore(conf.store);
  } catch (e) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid meshnet config', `"store": ${(e as Error).message}`);
  }
}

async function subjectOf(ctx: PluginContext, deps: MeshnetDeps): Promise<Subject | undefined> {
  const conf = parseMeshnetConf(ctx.conf.raw);
  const pod = podOf(ctx);
  if (!pod) return undefined;
  const client = new TopologyClient(await storeFor(conf, deps));
  const me = await readTopology(client, pod);
  return me ? { conf, pod, client, me } : undefined;
}

/** How VNIs are numbered: meshnetd's setting when it serves the call (the config must agree), else the config's, else kne. */
function resolveVniScheme(conf: MeshnetConf, deps: MeshnetDeps): VniScheme {
  if (deps.vniScheme !== undefined && conf.vniScheme !== undefined && conf.vniScheme !== deps.vniScheme) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'meshnet config and meshnetd disagree on the VNI scheme',
      `the config's "vni_scheme" is ${conf.vniScheme} but meshnetd on this node runs with ${deps.vniScheme} (--vni-scheme): remove "vni_scheme" from the config or make them equal`);
  }
  return deps.vniScheme ?? conf.vniScheme ?? 'kne';
}

function resolveNodeIp(conf: MeshnetConf, deps: MeshnetDeps): string {
  if (deps.nodeIp !== undefined && conf.nodeIp !== undefined && conf.nodeIp !== deps.nodeIp) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'meshnet config and meshnetd disagree on the node IP',
      `the config's "node_ip" is ${conf.nodeIp} but meshnetd on this node runs with ${deps.nodeIp} (HOST_IP / --node-ip): remove "node_ip" from the config or make them equal`);
  }
  const ip = conf.nodeIp ?? deps.nodeIp ?? nodeIpFromDefaultRoute();
  if (!ip) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'cannot tell this node\'s IP',
      'set "node_ip" in the meshnet config: this node has no default route to derive it from');
  }
  return ip;
}

/** Every Topology of every namespace (the VNI collision check), a store failure named. */
async function allTopologies(client: TopologyClient): Promise<Topology[]> {
  try {
    return await client.list();
  } catch (e) {
    throw storeError(e, 'listing Topologies of every namespace (VNI collisions)');
  }
}

async function add(ctx: PluginContext, deps: MeshnetDeps): Promise<CniResult> {
  const passThrough = ctx.conf.prevResult ?? emptyResult(ctx.conf.cniVersion);
  const conf = parseMeshnetConf(ctx.conf.raw);
  const pod = podOf(ctx);
  if (!pod) return passThrough; // not a Kubernetes pod: nothing of ours
  const client = new TopologyClient(await storeFor(conf, deps));
  requireNetnsPath(ctx.env.netns, ctx.env.command);
  let nodeIp: string;
  try {
    nodeIp = resolveNodeIp(conf, deps);
  } catch (e) {
    // A pod without a Topology is passed through whatever this node's settings.
    if (!(await readTopology(client, pod))) return passThrough;
    throw e;
  }

  // Alive first, then look at peers: of two pods coming up together at least one sees the other.
  // One merge patch of the status, no read before it; NotFound means no Topology: not ours.
  let me: Topology | undefined;
  try {
    me = await client.setStatus(pod.namespace, pod.name, {
      src_ip: nodeIp, net_ns: ctx.env.netns, container_id: ctx.env.containerId, plumbing_error: undefined,
    });
  } catch (e) {
    throw storeError(e, `marking ${pod.namespace}/${pod.name} alive`);
  }
  if (!me) return passThrough; // not a topology pod
  deps.observer?.alive(pod, {
    disableTxOffloads: conf.disableTxOffloads,
    ...(me.metadata.resourceVersion ? { resourceVersion: me.metadata.resourceVersion } : {}), ...(conf.mtu ? { mtu: conf.mtu } : {}),
  });
  // A link's own mtu, else the plugin's `mtu`, else meshnetd's --mtu, else 1500 (links.ts).
  me = withDefaultMtu(me, conf.mtu ?? deps.mtu);

  const peers = await readPeers(client, pod.namespace);
  const vniScheme = resolveVniScheme(conf, deps);
  // A VNI another cross-node link already holds on one of our nodes: left out and named, never a bare EEXIST.
  const { plans, problems } = await planPod(me, peers, { interNodeLinkType: deps.interNodeLinkType, vniScheme, all: () => allTopologies(client) });
  const recordProblems = async (extra: string[]) => {
    const all = [...problems, ...extra];
    if (all.length === 0) return;
    await client.setStatus(pod.namespace, pod.name, { plumbing_error: all.join('; ') }).catch(() => undefined);
  };
  // Under meshnetd (a reconciler beside this call) a peer node that does not answer does not fail
  // the ADD: its own reconciler makes its ends. The standalone plugin has no one to finish later.
  const farEnds = deps.observer ? new FarEndFailures() : undefined;
  const h = new Handles();
  const plumbDeps = {
    remote: deps.remote, ...(deps.wires ? { wires: deps.wires } : {}), ...(deps.hostIntf ? { hostIntf: deps.hostIntf } : {}),
    disableTxOffloads: conf.disableTxOffloads, vniScheme, ...(farEnds ? { farEnds } : {}),
  };
  const plumbOne = async (p: LinkPlan) => {
    try {
      await plumbLink(p, pod, ctx.env.netns, nodeIp, h, plumbDeps);
    } catch (e) {
      const msg = `${linkLabel(pod, p.link)}: ${e instanceof Error ? e.message : String(e)}`;
      await recordProblems([msg]);
      throw new CniError(MeshnetCode.Plumbing, 'meshnet could not plumb a link', msg);
    }
  };
  try {
    // Wires wait on their peer's daemon (one round trip each): several in flight, so that a pod
    // with 1,500 wires does not pay 1,500 round trips one after another (bench wires1500).
    const wires = deps.wires ? plans.filter((p) => p.action === 'grpc') : [];
    for (const p of plans) if (!wires.includes(p)) await plumbOne(p);
    let next = 0;
    const results = await Promise.allSettled(Array.from({ length: Math.min(WIRE_CONCURRENCY, wires.length) }, async () => {
      while (next < wires.length) await plumbOne(wires[next++]!);
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    h.close();
  }
  // Invalid links are left out, not fatal: the pod runs with its valid links and the reason is
  // in status.plumbing_error (kubectl get topo shows it).
  await recordProblems(farEnds?.describe() ?? []);
  // The reconciler asks for those far ends again, and keeps plumbing_error until they are made.
  if (farEnds?.links.size) deps.observer?.farEndsPending?.(pod.namespace, pod.name, farEnds.links);
  return passThrough;
}

/** grpc-wires a CNI ADD makes at once. */
const WIRE_CONCURRENCY = 32;

async function check(ctx: PluginContext, deps: MeshnetDeps): Promise<void> {
  const subject = await subjectOf(ctx, deps);
  if (!subject) return;
  const { pod, client, me } = subject;
  requireNetnsPath(ctx.env.netns, ctx.env.command);
  const fail = (details: string) => new CniError(MeshnetCode.CheckFailed, 'meshnet CHECK failed', details);
  if (me.status?.container_id !== ctx.env.containerId || me.status?.net_ns !== ctx.env.netns) {
    throw fail(`Topology ${pod.namespace}/${pod.name} records container ${me.status?.container_id ?? '(none)'} ` +
      `in ${me.status?.net_ns ?? '(none)'}, not ${ctx.env.containerId} in ${ctx.env.netns}`);
  }
  const peers = await readPeers(client, pod.namespace);
  const vniScheme = resolveVniScheme(subject.conf, deps);
  const { plans } = await planPod(me, peers, { interNodeLinkType: deps.interNodeLinkType, vniScheme, all: () => allTopologies(client) });
  const h = new Handles();
  try {
    for (const p of plans) {
      const { link } = p;
      if (p.action === 'wait') continue;
      const a = h.end(ctx.env.netns, link.local_intf, link.local_ip);
      const st = inspectEnd(a);
      const label = linkLabel(pod, link);
      if (!st.exists) throw fail(`${label}: interface ${link.local_intf} is missing in the pod`);
      // A pulled cable (lab link down) leaves a veth, self, VXLAN or macvlan end admin-down on purpose.
      if (!st.up && !cablePulled(link, peers.get(link.peer_pod))) throw fail(`${label}: interface ${link.local_intf} is down`);
      if (!st.hasIp) throw fail(`${label}: interface ${link.local_intf} lacks address ${link.local_ip}`);
      const expectKind = p.action === 'macvlan' || p.action === 'vxlan' ? p.action : 'veth'; // a grpc-wire end is a veth
      if (st.kind !== expectKind) throw fail(`${label}: interface ${link.local_intf} is a ${st.kind ?? 'plain'} link, expected ${expectKind}`);
      if (p.action === 'vxlan') {
        const v = a.rtnl.link(link.local_intf)?.vxlan;
        const vni = vniOf(link.uid, pod.namespace, vniScheme);
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
  const subject = await subjectOf(ctx, deps);
  if (!subject) return;
  const { pod, client, me } = subject;
  // A DEL for another sandbox of this pod (a stale duplicate) must not unplumb the live one.
  if (me.status?.container_id && me.status.container_id !== ctx.env.containerId) return;
  const peers = isAlive(me) ? await readPeers(client, pod.namespace) : undefined;
  // The pod stops being alive before its far ends go: a peer node told "wire down" checks the
  // store a moment later and re-makes the wire of a pod that is still alive there (a stale "down"
  // must not keep a link down), so with the status cleared last a DEL of 1,500 wires fought the
  // peer re-making them and never finished (killed after 60 s). Cleared first, every re-make is refused.
  try {
    const t = await client.setStatus(pod.namespace, pod.name, {
      src_ip: undefined, net_ns: undefined, container_id: undefined, plumbing_error: undefined,
    });
    deps.observer?.wrote(t?.metadata.resourceVersion);
  } catch (e) {
    throw storeError(e, `clearing status of ${pod.namespace}/${pod.name}`);
  }
  // The pod's own links first, in one batch (its wire ends stop being relayed just before):
  // deleting one end of a veth removes its peer too, so a same-node peer sees its link vanish,
  // like a pulled cable, and gets it back when this pod is re-created. Every link meshnet made in
  // this pod carries its device group, so one batched delete removes them all.
  const detached = deps.wires?.detachPod?.(pod.namespace, pod.name);
  if (ctx.env.netns && netnsPathExists(ctx.env.netns)) {
    const h = new Handles();
    try {
      h.get(ctx.env.netns).rtnl.deleteGroup(MESHNET_LINK_GROUP);
    } finally {
      h.close();
    }
  }
  detached?.sweep();
  // Then the far ends, on the peers' nodes.
  if (peers) {
    const failures = await removeFarEnds(me, peers, deps.interNodeLinkType, { ...deps, vniScheme: resolveVniScheme(subject.conf, deps) });
    for (const f of failures) (deps.log ?? createLogger({ fields: { component: 'meshnet' } })).warn(`meshnet DEL: could not remove ${f}`);
  }
  // Wire ends and records towards peers that are not up were not disconnected above: they go too.
  await deps.wires?.forgetPod?.(pod.namespace, pod.name);
}

export interface MeshnetDeps {
  /** Reaches peer nodes' daemons for the far end of cross-node links. */
  remote: RemoteLinker;
  /** How pods on different nodes are linked (upstream's INTER_NODE_LINK_TYPE); default vxlan. */
  interNodeLinkType?: InterNodeLinkType;
  /** grpc-wire dataplane; only meshnetd has one. */
  wires?: WireLinker;
  /**
   * meshnetd's store (and the reference it was opened from): when the daemon serves the call it
   * is the one store setting, so upstream's bare {"type":"meshnet","name":"meshnet"} works.
   */
  store?: { ref: string; store: Store };
  /** meshnetd's node IP (HOST_IP / --node-ip), used when the config has no "node_ip". */
  nodeIp?: string;
  /** The underlay interface for VXLAN ends (upstream's HOST_INTF); default: the node IP's. */
  hostIntf?: string;
  /** Where best-effort failures are told (meshnetd's log); default stderr. */
  log?: Logger;
  /** meshnetd's --mtu: links that set none and a config without `mtu` get it; default 1500. */
  mtu?: number;
  /** meshnetd's VNI scheme (--vni-scheme); default kne. */
  vniScheme?: VniScheme;
  /** meshnetd's reconciler, told about the status writes of CNI calls (it keeps pods' links current afterwards). */
  observer?: {
    alive(pod: { namespace: string; name: string }, add: { disableTxOffloads: boolean; resourceVersion?: string; mtu?: number }): void;
    wrote(resourceVersion: string | undefined): void;
    /** Far ends this ADD could not have made (their node failed), by link uid. */
    farEndsPending?(namespace: string, name: string, links: ReadonlyMap<number, { node: string; why: string }>): void;
  };
}

/** ADD with a delegate (delegate.ts): the delegate first, then the links; undone whole on failure. */
async function addWithDelegate(ctx: PluginContext, deps: MeshnetDeps, delegate: Record<string, unknown>): Promise<CniResult> {
  let result: CniResult | undefined;
  try {
    result = await runDelegate(delegate, 'ADD', ctx);
    await add(ctx, deps);
  } catch (e) {
    // Nothing left behind: meshnet's links and status, then the delegate's interface and lease.
    if (result) await del(ctx, deps).catch(() => undefined);
    await runDelegate(delegate, 'DEL', ctx).catch(() => undefined);
    throw e;
  }
  return { ...result!, cniVersion: ctx.conf.cniVersion };
}

/** DEL with a delegate: meshnet's cleanup, then the delegate's, which runs even when meshnet's fails. */
async function delWithDelegate(ctx: PluginContext, deps: MeshnetDeps, delegate: Record<string, unknown>): Promise<void> {
  let failed: unknown;
  try {
    await del(ctx, deps);
  } catch (e) {
    failed = e;
  }
  await runDelegate(delegate, 'DEL', ctx);
  if (failed) throw failed;
}

export function createMeshnetPlugin(deps: MeshnetDeps): PluginFuncs {
  return {
    about: 'meshnet: point-to-point links between pods from Topology objects',
    add: (ctx) => {
      const delegate = delegateConf(ctx);
      return delegate ? addWithDelegate(ctx, deps, delegate) : add(ctx, deps);
    },
    check: async (ctx) => {
      const delegate = delegateConf(ctx);
      if (delegate) await runDelegate(delegate, 'CHECK', ctx);
      await check(ctx, deps);
    },
    del: (ctx) => {
      const delegate = delegateConf(ctx);
      return delegate ? delWithDelegate(ctx, deps, delegate) : del(ctx, deps);
    },
  };
}
