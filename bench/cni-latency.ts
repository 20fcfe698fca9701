// CNI ADD/DEL latency of the meshnet plugin against Debian's reference `bridge` plugin, both
// measured in the same chain, the same runs and the same exec path (a runtime-like exec through
// nsenter into the node's netns). The pod under test has 4 same-node links to 4 running peers,
// so every meshnet ADD plumbs 4 veth pairs (addresses, offloads off, up) and every DEL removes them.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecTrace } from '../src/cni';
import { labDown, labUp, stopDaemons, type LabSpec, type LabState } from '../src/lab';
import { startPod, stopPod } from '../src/lab/runtime';
import { newPodStateFor } from './pods';
import { summarize, target, type Summary, type Target } from './stats';
import type { Topology } from '../src/topology';

export interface PathResult {
  bridgeAdd: Summary;
  meshnetAdd: Summary;
  bridgeDel: Summary;
  meshnetDel: Summary;
  chainAdd: Summary;
}

export interface CniLatencyResult {
  links: number;
  runs: number;
  /** The default: dist/cni/meshnet is the exec shim, the node's meshnetd runs the plugin. */
  daemon: PathResult;
  /** No daemon: the shim falls back to the plugin's JavaScript build in a Node process per call. */
  standalone: PathResult;
  /** With meshnetd, the store a Kubernetes API server (the API-server double, its own process). */
  kubernetes: PathResult;
  targets: Target[];
}

/** The API-server double (test/apiserver) in its own process, as an API server is; returns its kubeconfig. */
export async function startApiServer(): Promise<{ kubeconfig: string; stop(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-apiserver-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/apiserver/main.ts', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = () => {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 300 && !existsSync(join(dir, 'ready')); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!existsSync(join(dir, 'ready'))) {
    stop();
    throw new Error('the API-server double did not start (needs tsx and openssl: run from the repository after npm ci)');
  }
  return { kubeconfig: join(dir, 'kubeconfig'), stop };
}

function starSpec(lab: string, links: number): LabSpec {
  const center = 'c';
  const peers = Array.from({ length: links }, (_, i) => `p${i + 1}`);
  const topo = (name: string, ls: Topology['spec']['links']): Topology => ({
    apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name, namespace: 'default' }, spec: { links: ls },
  });
  return {
    name: lab,
    nodes: [{ name: 'n1' }],
    pods: [center, ...peers].map((name) => ({ name, namespace: 'default', node: 'n1' })),
    topologies: [
      topo(center, peers.map((p, i) => ({
        uid: i + 1, peer_pod: p, local_intf: `eth${i + 1}`, peer_intf: 'eth1',
        local_ip: `10.${i + 1}.0.1/24`, peer_ip: `10.${i + 1}.0.2/24`,
      }))),
      ...peers.map((p, i) => topo(p, [{
        uid: i + 1, peer_pod: center, local_intf: 'eth1', peer_intf: `eth${i + 1}`,
        local_ip: `10.${i + 1}.0.2/24`, peer_ip: `10.${i + 1}.0.1/24`,
      }])),
    ],
  };
}

function pick(trace: ExecTrace[], plugin: string, command: 'ADD' | 'DEL'): number {
  const t = trace.find((x) => x.plugin === plugin && x.command === command);
  if (!t) throw new Error(`no ${plugin} ${command} in the trace`);
  return t.ms;
}

async function measure(state: LabState, runs: number, warmup: number): Promise<PathResult> {
  const node = state.nodes[0]!;
  const idx = state.pods.findIndex((p) => p.name === 'c');
  const samples = { bridgeAdd: [] as number[], meshnetAdd: [] as number[], bridgeDel: [] as number[], meshnetDel: [] as number[], chainAdd: [] as number[] };
  for (let i = 0; i < warmup + runs; i++) {
    const delTrace: ExecTrace[] = [];
    await stopPod(state, node, state.pods[idx]!, delTrace);
    // A new sandbox each time, as a runtime re-creating the pod would make.
    const pod = newPodStateFor(state, 'c');
    state.pods[idx] = pod;
    const addTrace: ExecTrace[] = [];
    const t0 = performance.now();
    await startPod(state, node, pod, addTrace);
    const chain = performance.now() - t0;
    if (i >= warmup) {
      samples.bridgeAdd.push(pick(addTrace, 'bridge', 'ADD'));
      samples.meshnetAdd.push(pick(addTrace, 'meshnet', 'ADD'));
      samples.chainAdd.push(chain);
      samples.bridgeDel.push(pick(delTrace, 'bridge', 'DEL'));
      samples.meshnetDel.push(pick(delTrace, 'meshnet', 'DEL'));
    }
  }
  return {
    bridgeAdd: summarize(samples.bridgeAdd),
    meshnetAdd: summarize(samples.meshnetAdd),
    bridgeDel: summarize(samples.bridgeDel),
    meshnetDel: summarize(samples.meshnetDel),
    chainAdd: summarize(samples.chainAdd),
  };
}

export async function benchCniLatency(opts: { runs: number; warmup: number; links: number; cniBinDir: string }): Promise<CniLatencyResult> {
  const lab = `bench${process.pid % 100000}`;
  await labDown(lab).catch(() => undefined);
  try {
    const state = await labUp(starSpec(lab, opts.links), '(bench)', { cniBinDir: opts.cniBinDir });
    const daemon = await measure(state, opts.runs, opts.warmup);
    await stopDaemons(lab);
    const standalone = await measure(state, opts.runs, opts.warmup);
    await labDown(lab);
    const api = await startApiServer();
    let kubernetes: PathResult;
    try {
      const kstate = await labUp(starSpec(lab, opts.links), '(bench)', { cniBinDir: opts.cniBinDir, kubeconfig: api.kubeconfig });
      kubernetes = await measure(kstate, opts.runs, opts.warmup);
      await labDown(lab);
    } finally {
      api.stop();
    }
    return {
      links: opts.links,
      runs: opts.runs,
      daemon,
      standalone,
      kubernetes,
      targets: [
        target('add-latency-vs-bridge', daemon.meshnetAdd.median / daemon.bridgeAdd.median, 2, 'max', 'x'),
        target('del-latency-vs-bridge', daemon.meshnetDel.median / daemon.bridgeDel.median, 2, 'max', 'x'),
        target('add-latency-vs-bridge-kubernetes', kubernetes.meshnetAdd.median / kubernetes.bridgeAdd.median, 2, 'max', 'x'),
      ],
    };
  } finally {
    await labDown(lab);
  }
}
