// `lab apply FILE`: an edited lab file applied to the running lab, as `kubectl apply` would apply
// edited Topologies to a cluster: Topologies that changed are updated in the store (the nodes'
// reconcilers plumb, unplumb and re-address the links of running pods: no pod restarts), pods
// that are new are created, pods that are gone are deleted, pods placed on another node move,
// and nodes that are new join. Returns what it changed, one line each.
import { openStore } from '../store';
import { TopologyClient, type Link } from '../topology';
import { startDaemon, startApiProxyProcess, stopApiProxy } from './daemons';
import { createNode } from './fabric';
import { LabError } from './errors';
import { labState } from './lab';
import type { LabSpec } from './labfile';
import { newPodState, startPod, stopPod } from './runtime';
import { saveState, type PodState } from './state';
import type { LabContainer } from './container-spec';
import { ensureNodeImages } from './containerd-node';
import { runPodExecs } from './containers';

export interface ApplyOptions {
  runDir?: string;
}

const podKey = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/** What changed in one pod's links, for the report: "+uid 7 (eth3)", "-uid 2", "~uid 1 (local_ip ...)". */
export function linkChanges(before: Link[], after: Link[]): string[] {
  const out: string[] = [];
  const old = new Map(before.map((l) => [l.uid, l]));
  const now = new Map(after.map((l) => [l.uid, l]));
  for (const l of after) {
    const o = old.get(l.uid);
    if (!o) { out.push(`+uid ${l.uid} (${l.local_intf} to ${l.peer_pod}:${l.peer_intf})`); continue; }
    const diffs = (['peer_pod', 'local_intf', 'peer_intf', 'local_ip', 'peer_ip'] as const)
      .filter((k) => (o[k] ?? '') !== (l[k] ?? '')).map((k) => `${k} ${o[k] ?? '-'} -> ${l[k] ?? '-'}`);
    if (diffs.length) out.push(`~uid ${l.uid} (${diffs.join(', ')})`);
  }
  for (const l of before) if (!now.has(l.uid)) out.push(`-uid ${l.uid} (${l.local_intf})`);
  return out;
}

export async function labApply(spec: LabSpec, opts: ApplyOptions = {}): Promise<string[]> {
  const state = labState(spec.name, opts.runDir ? { runDir: opts.runDir } : {});
  if ((spec.interNodeLinkType ?? 'vxlan') !== (state.interNodeLinkType ?? 'vxlan')) {
    throw new LabError(`inter_node_link_type changed (${state.interNodeLinkType ?? 'vxlan'} -> ${spec.interNodeLinkType ?? 'vxlan'}): that needs new daemons; lab down and up`);
  }
  if ((spec.vniScheme ?? 'kne') !== (state.vniScheme ?? 'kne')) {
    throw new LabError(`vni_scheme changed (${state.vniScheme ?? 'kne'} -> ${spec.vniScheme ?? 'kne'}): that needs new daemons; lab down and up`);
  }
  if ((spec.peerTls ?? 'off') !== (state.peerTls ?? 'off')) {
    throw new LabError(`peer_tls changed (${state.peerTls ?? 'off'} -> ${spec.peerTls ?? 'off'}): that needs new daemons; lab down and up`);
  }
  if ((spec.runtime ?? 'netns') !== (state.runtime ?? 'netns')) {
    throw new LabError(`the pods' runtime changed (${state.runtime ?? 'netns'} -> ${spec.runtime ?? 'netns'}; a pod with an image needs containerd): that needs new nodes; lab down and up`);
  }
  const gone = state.nodes.filter((n) => !spec.nodes.some((x) => x.name === n.name));
  const out: string[] = [];
  const client = new TopologyClient(await openStore(state.store));

  // New nodes first: pods may be placed on them.
  for (const n of spec.nodes.filter((x) => !state.nodes.some((s) => s.name === x.name))) {
    const node = createNode(state, n.name, state.nodes.length);
    state.nodes.push(node);
    saveState(state);
    if (state.kube) {
      // The proxy listens in the node namespaces it knew at start: start it again with this one.
      await stopApiProxy(state.name);
      state.apiProxyPid = await startApiProxyProcess(state);
    }
    node.daemonPid = await startDaemon(state, node);
    saveState(state);
    out.push(`+ node ${n.name} (${node.underlayIp})`);
  }

  // Topologies: changed ones updated in place (the reconcilers re-plumb running pods), new ones created.
  const wanted = new Map(spec.topologies.map((t) => [podKey(t.metadata), t]));
  const current = new Map((await client.list()).map((t) => [podKey(t.metadata), t]));
  const ours = new Set(state.pods.map(podKey));
  for (const [key, t] of wanted) {
    const cur = current.get(key);
    if (!cur) {
      await client.create(t);
      state.kube?.created.topologies.push({ namespace: t.metadata.namespace, name: t.metadata.name });
      saveState(state);
      continue; // reported with its pod
    }
    const changes = linkChanges(cur.spec.links, t.spec.links);
    if (changes.length === 0) continue;
    await client.updateLinks(cur.metadata.namespace, cur.metadata.name, () => t.spec.links);
    out.push(`~ Topology ${key}: ${changes.join(', ')}`);
  }

  // Every image a new or changed pod needs, before any pod is touched (none that cannot be had).
  if (state.runtime === 'containerd') for (const node of state.nodes) await ensureNodeImages(state, node, spec.pods);
  // Pods gone, pods that moved to another node, and pods whose container changed (another image,
  // command, binds...) leave first (their links go with them); the last two come back.
  const recreated = new Set<string>();
  for (const pod of [...state.pods]) {
    const want = spec.pods.find((p) => podKey(p) === podKey(pod));
    if (want && want.node === pod.node && sameContainer(want.container, pod.container)) continue;
    if (want && want.node === pod.node) recreated.add(podKey(pod));
    const node = state.nodes.find((n) => n.name === pod.node)!;
    await stopPod(state, node, pod);
    state.pods = state.pods.filter((p) => p !== pod);
    saveState(state);
    if (!want) {
      if (ours.has(podKey(pod)) && !wanted.has(podKey(pod))) {
        await client.delete(pod.namespace, pod.name);
        if (state.kube) state.kube.created.topologies = state.kube.created.topologies.filter((t) => podKey(t) !== podKey(pod));
        saveState(state);
      }
      out.push(`- pod ${podKey(pod)}`);
    }
  }
  // New pods, and moved pods on their new node.
  const started: PodState[] = [];
  for (const p of spec.pods) {
    if (state.pods.some((x) => podKey(x) === podKey(p))) continue;
    const pod = newPodState(state.name, p);
    const node = state.nodes.find((n) => n.name === p.node)!;
    state.pods.push(pod);
    saveState(state);
    await startPod(state, node, pod);
    saveState(state);
    const before = current.has(podKey(p)) && ours.has(podKey(p));
    out.push(recreated.has(podKey(p)) ? `~ pod ${podKey(p)} re-created: its container changed${p.container ? ` (image ${p.container.image})` : ''}`
      : before ? `> pod ${podKey(p)} moved to node ${p.node}` : `+ pod ${podKey(p)} on node ${p.node}`);
    started.push(pod);
  }
  // The exec: commands of the pods just started, once their links are up.
  for (const o of await runPodExecs(state, undefined, started)) out.push(`  ${o.pod}: exec ${o.command} (exit ${o.exitCode})`);
  if (gone.length) out.push(`! nodes ${gone.map((n) => n.name).join(', ')} are no longer in the file: kept (removing nodes from a running lab is not supported; their pods were moved or removed)`);
  saveState(state);
  return out;
}


/** Whether a pod's container (from the file) is the one it runs (its id aside). */
function sameContainer(want: LabContainer | undefined, has: (LabContainer & { id?: string }) | undefined): boolean {
  if (!want || !has) return !want && !has;
  const { id: _id, ...running } = has;
  void _id;
  return JSON.stringify(running) === JSON.stringify(want);
}
