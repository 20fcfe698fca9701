// A node under a real runtime (issue 16): pods made through containerd's CRI, as a kubelet makes
// them, on lab nodes whose meshnetd chains meshnet into the runtime's CNI config.
// - RunPodSandbox of a pod with 4 veth links through the meshnet chain, against the same call with
//   the node's primary CNI alone (meshnet not chained), median of 20 each, same node, same run.
// - How long meshnetd takes to exit on SIGTERM (what a DaemonSet rollout waits on) with a peer
//   node, over grpc-wire (streams to the peer open) and VXLAN, Topologies in a Kubernetes API
//   server (the API-server double in its own process).
// - A rolling restart of both nodes' meshnetd while pods are sandboxed without pause: how many
//   were made, how many sandbox attempts the runtime refused meanwhile (kubelet retries them), the
//   longest a pod waited, and that every one got its links.
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkLinks, labDown, labUp, parseLabSpec, processGone, saveState, startPod, stopPod, type LabSpec, type LabState, type PodState } from '../src/lab';
import { nodeRuntime, waitChained } from '../src/lab/containerd-node';
import { daemonBinary, startDaemon } from '../src/lab/daemons';
import { newPodState } from '../src/lab/runtime';
import { openStore } from '../src/store';
import { TopologyClient } from '../src/topology';
import { startApiServer } from './cni-latency';
import { summarize, target, type Summary, type Target } from './stats';

export interface NodeBenchResult {
  sandbox: { primaryMs: Summary; meshnetMs: Summary; ratio: number; links: number };
  sigtermExitMs: { grpc: Summary; vxlan: Summary };
  rollout: { pods: number; refused: number; longestWaitMs: number; allLinked: boolean };
  targets: Target[];
}

const RUNS = 20;
const WARMUP = 3;
const LINKS = 4;

/** Hubs h1..h4 (started by lab up) and test pods t0..t{n-1}, each linked once to every hub. */
function starSpec(name: string, tests: number): LabSpec {
  const hubs = Array.from({ length: LINKS }, (_, i) => `h${i + 1}`);
  const pods = Array.from({ length: tests }, (_, i) => `t${i}`);
  const uid = (t: number, h: number) => t * LINKS + h + 1;
  return parseLabSpec({
    name, runtime: 'containerd', nodes: ['n1'],
    pods: [...hubs, ...pods].map((p) => ({ name: p, node: 'n1' })),
    topologies: [
      ...hubs.map((h, hi) => ({ metadata: { name: h }, spec: { links: pods.map((p, ti) => ({ uid: uid(ti, hi), peer_pod: p, local_intf: `t${ti}`, peer_intf: `eth${hi + 1}` })) } })),
      ...pods.map((p, ti) => ({ metadata: { name: p }, spec: { links: hubs.map((h, hi) => ({ uid: uid(ti, hi), peer_pod: h, local_intf: `eth${hi + 1}`, peer_intf: `t${ti}` })) } })),
    ],
  });
}

function linkCount(netns: string): number {
  const r = spawnSync('ip', ['-n', netns, '-o', 'link', 'show'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => /: eth[1-9]\S*[@:]/.test(l)).length;
}

async function timedSandbox(state: LabState, pod: PodState): Promise<number> {
  const t0 = performance.now();
  await startPod(state, state.nodes[0]!, pod);
  return performance.now() - t0;
}

async function sandboxLatency(cniBinDir: string): Promise<NodeBenchResult['sandbox']> {
  const name = `bn${process.pid % 10000}`;
  await labDown(name).catch(() => undefined);
  const total = 2 * (RUNS + WARMUP) + 1;
  const spec = starSpec(name, total);
  const state = await labUp({ ...spec, pods: spec.pods.filter((p) => p.name.startsWith('h')) }, '(bench node)', { cniBinDir });
  try {
    const node = state.nodes[0]!;
    const rt = nodeRuntime(state, node);
    const pods = spec.pods.filter((p) => p.name.startsWith('t')).map((p) => newPodState(name, p));
    let next = 0;
    // The primary alone: meshnetd stopped, meshnet taken out of the runtime's config (--cni-uninstall).
    process.kill(node.daemonPid!, 'SIGTERM');
    while (!processGone(node.daemonPid!)) await sleep(5);
    const un = spawnSync(process.execPath, [daemonBinary(state), '--cni-uninstall', '--cni-conf-dir', rt.cniConfDir, '--cni-bin-dir', rt.cniBinDir], { encoding: 'utf8' });
    if (un.status !== 0) throw new Error(`meshnetd --cni-uninstall: ${un.stderr}`);
    // containerd follows its conf dir: the first sandbox made without meshnet shows it has.
    const probe = pods[next++]!;
    for (let i = 0; ; i++) {
      try {
        await startPod(state, node, probe);
        break;
      } catch (e) {
        if (i > 100) throw e;
        await sleep(50);
      }
    }
    await stopPod(state, node, probe);
    const primary: number[] = [];
    for (let i = 0; i < RUNS + WARMUP; i++) {
      const p = pods[next++]!;
      const ms = await timedSandbox(state, p);
      if (linkCount(p.netns) !== 0) throw new Error(`${p.name} got meshnet links with meshnet not chained`);
      if (i >= WARMUP) primary.push(ms);
      await stopPod(state, node, p);
    }
    // The meshnet chain: meshnetd back, meshnet chained again.
    node.daemonPid = await startDaemon(state, node);
    saveState(state);
    await waitChained(state, node);
    const meshnet: number[] = [];
    for (let i = 0; i < RUNS + WARMUP; i++) {
      const p = pods[next++]!;
      let ms: number;
      for (let tries = 0; ; tries++) {
        try {
          ms = await timedSandbox(state, p);
          break;
        } catch (e) {
          if (tries > 100) throw e; // containerd not yet reloaded: its first tries may lack the chain
          await sleep(50);
        }
      }
      if (linkCount(p.netns) !== LINKS) {
        // Made before containerd reloaded its config: not a meshnet sandbox; measured again.
        await stopPod(state, node, p);
        i--;
        pods.push(newPodState(name, spec.pods.find((x) => x.name === p.name)!));
        continue;
      }
      if (i >= WARMUP) meshnet.push(ms!);
      await stopPod(state, node, p);
    }
    const p = summarize(primary);
    const m = summarize(meshnet);
    return { primaryMs: p, meshnetMs: m, ratio: m.median / p.median, links: LINKS };
  } finally {
    await labDown(name);
  }
}

/** SIGTERM exit times of both nodes' daemons, alternately, `runs` times, with a pod on each linked across. */
async function sigtermExit(cniBinDir: string, linkType: 'grpc' | 'vxlan', kubeconfig: string, runs: number): Promise<Summary> {
  const name = `bx${linkType[0]}${process.pid % 10000}`;
  await labDown(name).catch(() => undefined);
  const spec = parseLabSpec({
    name, runtime: 'containerd', inter_node_link_type: linkType, nodes: ['n1', 'n2'],
    pods: [{ name: 'r1', node: 'n1' }, { name: 'r2', node: 'n2' }],
    topologies: [
      { metadata: { name: 'r1' }, spec: { links: [{ uid: 1, peer_pod: 'r2', local_intf: 'eth1', peer_intf: 'eth1', local_ip: '10.1.1.1/24', peer_ip: '10.1.1.2/24' }] } },
      { metadata: { name: 'r2' }, spec: { links: [{ uid: 1, peer_pod: 'r1', local_intf: 'eth1', peer_intf: 'eth1', local_ip: '10.1.1.2/24', peer_ip: '10.1.1.1/24' }] } },
    ],
  });
  const state = await labUp(spec, '(bench exit)', { cniBinDir, kubeconfig });
  try {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const node = state.nodes[i % 2]!;
      const pid = node.daemonPid!;
      await sleep(200); // streams and watches settled, as in a running node
      const t0 = performance.now();
      process.kill(pid, 'SIGTERM');
      while (!processGone(pid)) await sleep(1);
      times.push(performance.now() - t0);
      node.daemonPid = await startDaemon(state, node);
      saveState(state);
    }
    return summarize(times);
  } finally {
    await labDown(name);
  }
}

async function rollout(cniBinDir: string): Promise<NodeBenchResult['rollout']> {
  const name = `br${process.pid % 10000}`;
  await labDown(name).catch(() => undefined);
  const n = 40;
  const pods = Array.from({ length: n }, (_, i) => `p${i}`);
  // A chain p0 - p1 - ... over two nodes, VXLAN across.
  const spec = parseLabSpec({
    name, runtime: 'containerd', nodes: ['n1', 'n2'],
    pods: pods.map((p, i) => ({ name: p, node: `n${(i % 2) + 1}` })),
    topologies: pods.map((p, i) => ({ metadata: { name: p }, spec: { links: [
      ...(i > 0 ? [{ uid: i, peer_pod: pods[i - 1], local_intf: 'eth1', peer_intf: 'eth2' }] : []),
      ...(i < n - 1 ? [{ uid: i + 1, peer_pod: pods[i + 1], local_intf: 'eth2', peer_intf: 'eth1' }] : []),
    ] } })),
  });
  const state = await labUp({ ...spec, pods: [] }, '(bench rollout)', { cniBinDir });
  try {
    let refused = 0;
    let longest = 0;
    let stop = false;
    let made = 0;
    const maker = (async () => {
      for (const lp of spec.pods) {
        if (stop) break;
        const t0 = performance.now();
        for (;;) {
          const p = newPodState(name, lp);
          try {
            await startPod(state, state.nodes.find((x) => x.name === lp.node)!, p);
            state.pods.push(p);
            made++;
            break;
          } catch {
            refused++;
            await sleep(100);
          }
        }
        longest = Math.max(longest, performance.now() - t0);
      }
    })();
    for (const node of state.nodes) {
      await sleep(300);
      process.kill(node.daemonPid!, 'SIGTERM');
      while (!processGone(node.daemonPid!)) await sleep(2);
      await sleep(300); // the new daemon's pod is scheduled and pulled, as in a rollout
      node.daemonPid = await startDaemon(state, node);
    }
    await maker;
    stop = true;
    saveState(state);
    let rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
    for (let i = 0; i < 50 && rows.some((r) => !r.pass); i++) {
      await sleep(200);
      rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
    }
    return { pods: made, refused, longestWaitMs: longest, allLinked: rows.length === n - 1 && rows.every((r) => r.pass) };
  } finally {
    await labDown(name);
  }
}

export async function benchNode(cniBinDir: string): Promise<NodeBenchResult> {
  const sandbox = await sandboxLatency(cniBinDir);
  const api = await startApiServer();
  let sigtermExitMs: NodeBenchResult['sigtermExitMs'];
  try {
    sigtermExitMs = { grpc: await sigtermExit(cniBinDir, 'grpc', api.kubeconfig, 10), vxlan: await sigtermExit(cniBinDir, 'vxlan', api.kubeconfig, 10) };
  } finally {
    api.stop();
  }
  const ro = await rollout(cniBinDir);
  return {
    sandbox, sigtermExitMs, rollout: ro,
    targets: [
      target('cri-sandbox-latency-vs-bridge', sandbox.ratio, 1.2, 'max', 'x'),
      target('meshnetd-sigterm-exit-with-peer', Math.max(sigtermExitMs.grpc.median, sigtermExitMs.vxlan.median), 500, 'max', ' ms'),
    ],
  };
}
