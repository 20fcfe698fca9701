// Labs whose pods are made through containerd's CRI (lab file `runtime: containerd`), for the
// node-lifecycle tests: what kubelet does (create a pod sandbox, retry it after a failure, remove
// it), what a node has of a pod (lease, host veth, netns, sandbox), and the node daemon's stops
// and starts as a DaemonSet rollout or a crash makes them.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetNs, Rtnl, listNamedNetns } from '../../src/kernel';
import { checkLinks, netnsPath, parseLabFile, processGone, saveState, startPod, stopPod, type LabSpec, type LabState, type NodeState, type PodState } from '../../src/lab';
import { nodeRuntime } from '../../src/lab/containerd-node';
import { startDaemon } from '../../src/lab/daemons';
import { newPodState } from '../../src/lab/runtime';
import { criClient, listSandboxes } from '../../src/cri/sandboxes';
import { openStore } from '../../src/store';
import { TopologyClient, type Topology } from '../../src/topology';
import { WireRecords, type GWireItem } from '../../src/wire/records';

export type Layout = 'veth' | 'vxlan' | 'grpc';

/** The Topologies of pods r1, r2, r3 (lab file YAML): r1-r2 by uid 1 (10.1.1.0/24), r1-r3 by uid 2 (10.1.2.0/24). */
export const R1_TO_R2_AND_R3 = `topologies:
  - metadata: {name: r1}
    spec: {links: [{uid: 1, peer_pod: r2, local_intf: eth1, peer_intf: eth1, local_ip: 10.1.1.1/24, peer_ip: 10.1.1.2/24},
                   {uid: 2, peer_pod: r3, local_intf: eth2, peer_intf: eth1, local_ip: 10.1.2.1/24, peer_ip: 10.1.2.3/24}]}
  - metadata: {name: r2}
    spec: {links: [{uid: 1, peer_pod: r1, local_intf: eth1, peer_intf: eth1, local_ip: 10.1.1.2/24, peer_ip: 10.1.1.1/24}]}
  - metadata: {name: r3}
    spec: {links: [{uid: 2, peer_pod: r1, local_intf: eth1, peer_intf: eth2, local_ip: 10.1.2.3/24, peer_ip: 10.1.2.1/24}]}
`;

/**
 * r1 on n1 and r2 (on n2 for vxlan and grpc, else n1) linked by uid 1; r3, on r2's node, linked
 * to r1 by uid 2, has its Topology from the start (KNE creates them before the pods) but no pod:
 * the tests create it. Lab up starts r1 and r2.
 */
export function lifecycleSpec(name: string, layout: Layout, cniVersion = '1.0.0'): { spec: LabSpec; r3: LabSpec['pods'][number] } {
  const two = layout !== 'veth';
  const full = parseLabFile(`
name: ${name}
runtime: containerd
cni_version: "${cniVersion}"
${layout === 'grpc' ? 'inter_node_link_type: grpc' : ''}
nodes: [n1${two ? ', n2' : ''}]
pods: [{name: r1, node: n1}, {name: r2, node: ${two ? 'n2' : 'n1'}}, {name: r3, node: ${two ? 'n2' : 'n1'}}]
${R1_TO_R2_AND_R3}`);
  return { spec: { ...full, pods: full.pods.filter((p) => p.name !== 'r3') }, r3: full.pods.find((p) => p.name === 'r3')! };
}

export const nodeOf = (state: LabState, name: string): NodeState => state.nodes.find((n) => n.name === name)!;
export const podOf = (state: LabState, name: string): PodState | undefined => state.pods.find((p) => p.name === name);

/** Creates the pod's sandbox through its node's CRI, once; it is recorded in the lab's state on success. */
export async function runPod(state: LabState, pod: LabSpec['pods'][number]): Promise<PodState> {
  const p = newPodState(state.name, pod);
  await startPod(state, nodeOf(state, pod.node), p);
  state.pods.push(p);
  saveState(state);
  return p;
}

/** As kubelet retries a sandbox that failed: again after a short wait, until it is made (or `ms` passed). */
export async function runPodRetried(state: LabState, pod: LabSpec['pods'][number], ms = 30_000): Promise<{ pod: PodState; failures: string[] }> {
  const failures: string[] = [];
  const end = Date.now() + ms;
  for (;;) {
    try {
      return { pod: await runPod(state, pod), failures };
    } catch (e) {
      failures.push((e as Error).message);
      if (Date.now() > end) throw new Error(`sandbox for ${pod.name} still failing after ${ms} ms: ${(e as Error).message}`);
      await sleep(200);
    }
  }
}

/** Stops and removes the pod's sandbox through its node's CRI, as kubelet does when a pod is deleted. */
export async function removePod(state: LabState, pod: PodState): Promise<void> {
  await stopPod(state, nodeOf(state, pod.node), pod);
  state.pods = state.pods.filter((p) => p !== pod);
  saveState(state);
}

/** SIGTERM (a rollout) or SIGKILL (a crash) of the node's meshnetd; resolves once it has exited. */
export async function stopNodeDaemon(state: LabState, node: NodeState, signal: 'SIGTERM' | 'SIGKILL'): Promise<number> {
  const pid = node.daemonPid!;
  const t0 = performance.now();
  process.kill(pid, signal);
  while (!processGone(pid)) await sleep(5);
  node.daemonPid = undefined;
  saveState(state);
  return performance.now() - t0;
}

export async function startNodeDaemon(state: LabState, node: NodeState): Promise<void> {
  node.daemonPid = await startDaemon(state, node);
  saveState(state);
}

export async function topologies(state: LabState): Promise<Topology[]> {
  return new TopologyClient(await openStore(state.store)).list();
}

/** Every link whose both pods run passes traffic (and there is at least `min` of them). */
export async function runningLinksPass(state: LabState, min = 1): Promise<boolean> {
  const running = new Set(state.pods.map((p) => p.name));
  const topos = (await topologies(state)).filter((t) => running.has(t.metadata.name))
    .map((t) => ({ ...t, spec: { links: t.spec.links.filter((l) => running.has(l.peer_pod)) } }));
  const rows = await checkLinks(state, topos);
  return rows.length >= min && rows.every((r) => r.pass);
}

/** host-local's leases on the node (one file per address given out). */
export function leases(state: LabState, node: NodeState): string[] {
  const dir = join(state.dir, 'nodes', node.name, 'ipam', 'meshnet-lab');
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
}

/** The bridge plugin's host-side veths on the node (one per pod sandbox with eth0). */
export function hostVeths(node: NodeState): string[] {
  const ns = NetNs.open(netnsPath(node.netns));
  const r = Rtnl.open(ns);
  try {
    const links = r.links();
    const bridge = links.find((l) => l.name === 'cni0');
    return links.filter((l) => l.kind === 'veth' && bridge && l.master === bridge.index).map((l) => l.name);
  } finally {
    r.close();
    ns.close();
  }
}

export async function sandboxes(state: LabState, node: NodeState): Promise<Array<{ id: string; name: string; ready: boolean }>> {
  const c = criClient(nodeRuntime(state, node).socket);
  try {
    return await listSandboxes(c);
  } finally {
    c.close();
  }
}

export async function wireRecords(state: LabState, node: NodeState): Promise<GWireItem[]> {
  return new WireRecords(await openStore(state.store), node.name).list();
}

/**
 * What the node still has of pod `name` after it was removed: host-local leases and host veths
 * beyond those of the running pods, its netns, its sandbox, its wire records, an alive status.
 */
export async function leftoversOf(state: LabState, node: NodeState, name: string, netns: string): Promise<string[]> {
  const running = state.pods.filter((p) => p.node === node.name).length;
  const out: string[] = [];
  const l = leases(state, node);
  if (l.length !== running) out.push(`${l.length} leases for ${running} running pods: ${l.join(', ')}`);
  const v = hostVeths(node);
  if (v.length !== running) out.push(`${v.length} host veths for ${running} running pods: ${v.join(', ')}`);
  if (listNamedNetns().includes(netns)) out.push(`netns ${netns}`);
  for (const s of await sandboxes(state, node)) if (s.name === name) out.push(`sandbox ${s.id.slice(0, 12)} (${s.ready ? 'ready' : 'not ready'})`);
  for (const w of await wireRecords(state, node)) if (w.local_pod_name === name) out.push(`wire record of ${name}:${w.local_pod_iface_name}`);
  const t = (await topologies(state)).find((x) => x.metadata.name === name);
  if (t?.status?.src_ip || t?.status?.net_ns || t?.status?.container_id) out.push(`status ${JSON.stringify(t.status)}`);
  return out;
}

export const daemonLog = (state: LabState, node: string) => readFileSync(join(state.dir, 'nodes', node, 'meshnetd.log'), 'utf8');
