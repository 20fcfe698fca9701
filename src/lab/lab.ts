// `lab up / status / down`: nodes and pods as network namespaces on this machine, the pods'
// Topology objects in an embedded store, and every pod brought up through its node's CNI chain.
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ExecTrace } from '../cni';
import { deleteNamedNetns, listNamedNetns } from '../kernel';
import { StoreError, openStore } from '../store';
import { TopologyClient } from '../topology';
import { startApiProxyProcess, startDaemon, stopApiProxy, stopDaemons } from './daemons';
import { startLabEtcd, stopLabEtcd } from './etcd';
import { LabError } from './errors';
import { cleanupKubeLab, prepareKubeLab } from './kube';
import { ensureNodeImages, removeSandboxesOf, startNodeRuntime, stopNodeRuntime, waitChained } from './containerd-node';
import { runPodExecs, type ExecOutcome } from './containers';
import { createFabric, createNode, primaryConfList } from './fabric';
import { parseLabFile, type LabFileOptions, type LabSpec } from './labfile';
import { cniSocketPath, deferredDir } from '../plumbing/sockets';
import { LAB_RUN_DIR, labPrefix, netnsPath } from './names';
import { newPodState, startPod, stopPod } from './runtime';
import { labDir, loadState, saveState, type LabState } from './state';

export interface LabOptions {
  /** Where lab state lives (default /run/meshnet-lab). */
  runDir?: string;
  /** Directory holding our CNI plugin binaries (dist/cni). */
  cniBinDir?: string;
  /** Per-plugin exec timings of every CNI call, for benchmarks. */
  trace?: ExecTrace[];
  /**
   * Start one meshnetd per node (default true). Without daemons the plugin's exec shim falls
   * back to running the plugin in a Node process per call: same behaviour, slower.
   */
  daemons?: boolean;
  /**
   * Keep the lab's objects in the Kubernetes API server this kubeconfig names instead of the
   * embedded store: Topologies are written there, every node's meshnetd uses it as its store.
   */
  kubeconfig?: string;
  /** Lines about slow steps as they happen (images imported or pulled). */
  progress?: (line: string) => void;
  /** Each `exec:` command a container pod ran after `lab up`, as it ends. */
  onExec?: (o: ExecOutcome) => void;
}

/** Pods torn down at once by `lab down`. */
const DOWN_CONCURRENCY = 8;

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function inPool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Pods a containerd lab starts at once. */
const CRI_POD_CONCURRENCY = 4;

/**
 * Runs `fn` over `items`, `limit` at a time; after a failure no item starts, those in flight are
 * waited for (a lab torn down after a failed up has nothing still being made), and the first
 * failure is thrown.
 */
async function untilFirstFailure<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { e: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failed ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failed.e;
}

/**
 * Waits for every promise, then throws the first failure: a lab torn down after a failure must
 * not have a node's containerd still starting (it would outlive the lab, unrecorded).
 */
async function allSettled(work: Promise<unknown>[]): Promise<void> {
  const bad = (await Promise.allSettled(work)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad) throw bad.reason;
}

/** dist/cni next to the running bundle, or under the repository when running from source. */
export function findCniBinDir(): string {
  const candidates = [
    process.env.MESHNET_CNI_BIN_DIR,
    process.argv[1] ? join(dirname(resolve(process.argv[1])), 'cni') : undefined,
    resolve('dist/cni'),
  ].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(join(c, 'meshnet')));
  if (!found) {
    throw new LabError(`meshnet plugin binary not found (looked in ${candidates.join(', ')}): run npm run build`);
  }
  return found;
}

export function readLabFile(path: string, opts: LabFileOptions = {}): LabSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new LabError(`cannot read lab file ${path}: ${(e as Error).message}`);
  }
  return parseLabFile(text, path, { read: (p) => readFileSync(resolve(dirname(path), p), 'utf8'), baseDir: dirname(resolve(path)), ...opts });
}

export async function labUp(spec: LabSpec, file: string, opts: LabOptions = {}): Promise<LabState> {
  const runDir = opts.runDir ?? LAB_RUN_DIR;
  const existing = loadState(spec.name, runDir);
  if (existing || listNamedNetns().some((n) => n.startsWith(labPrefix(spec.name)))) {
    throw new LabError(`lab "${spec.name}" is already up (or left over): run "meshnetctl lab down ${spec.name}" first`);
  }
  const dir = labDir(spec.name, runDir);
  const state: LabState = {
    name: spec.name,
    file: resolve(file),
    dir,
    store: join(dir, 'store'),
    cniBinDir: opts.cniBinDir ?? findCniBinDir(),
    ...(spec.meshnet ? { meshnet: { ...spec.meshnet } } : {}),
    ...(spec.interNodeLinkType ? { interNodeLinkType: spec.interNodeLinkType } : {}),
    ...(spec.vniScheme ? { vniScheme: spec.vniScheme } : {}),
    ...(spec.peerTls ? { peerTls: spec.peerTls } : {}),
    ...(spec.runtime === 'containerd' ? { runtime: 'containerd' as const } : {}),
    ...(spec.cniVersion ? { cniVersion: spec.cniVersion } : {}),
    createdAt: new Date().toISOString(),
    nodes: [],
    pods: [],
  };
  saveState(state);
  try {
    if (opts.kubeconfig !== undefined) {
      if ((opts.daemons ?? true) === false) throw new LabError('a lab on a Kubernetes API needs its node daemons (they are the plugin\'s store)');
      await prepareKubeLab(opts.kubeconfig, spec.topologies.map((t) => t.metadata.namespace), dir, (k) => {
        state.kube = k;
        state.store = `kubernetes:${k.kubeconfig}`;
        saveState(state);
      });
    }
    // The original meshnet: its private etcd, holding the links in its own layout.
    if (spec.originalMeshnet) {
      state.originalMeshnet = spec.originalMeshnet.config;
      state.etcd = await startLabEtcd(state);
      state.store = `etcd-original://127.0.0.1:${state.etcd.port}`;
      saveState(state);
    }
    createFabric(spec.name);
    for (const [i, n] of spec.nodes.entries()) {
      state.nodes.push(createNode(state, n.name, i));
      saveState(state);
    }
    // The node namespaces reach a Kubernetes API server (or the lab's etcd) only through the lab's proxy.
    if (state.kube || state.etcd) {
      state.apiProxyPid = await startApiProxyProcess(state);
      saveState(state);
    }
    // A node's runtime comes first, as on a cluster node; its meshnetd then chains meshnet into
    // the runtime's CNI config, as the DaemonSet does.
    if (state.runtime === 'containerd') {
      if ((opts.daemons ?? true) === false) throw new LabError('a lab whose runtime is containerd needs its node daemons (they chain meshnet into the runtime\'s CNI config)');
      // Each node's containerd starts on its own (they share nothing), all at once.
      await allSettled(state.nodes.map((node) => startNodeRuntime(state, node, primaryConfList(state, node))));
      saveState(state);
    }
    if (opts.daemons ?? true) {
      for (const node of state.nodes) {
        node.daemonPid = await startDaemon(state, node);
        saveState(state);
      }
      if (state.runtime === 'containerd') for (const node of state.nodes) await waitChained(state, node);
    }
    // KNE creates the Topology objects before the pods, so every ADD finds its own.
    const topologies = new TopologyClient(await openStore(state.store));
    for (const t of spec.topologies) {
      try {
        await topologies.create(t);
      } catch (e) {
        if (e instanceof StoreError && e.code === 'AlreadyExists') {
          throw new LabError(`Topology ${t.metadata.namespace}/${t.metadata.name} already exists in the store (${state.kube ? state.kube.server : state.store}); the lab creates its own and will not touch it`);
        }
        throw e;
      }
      state.kube?.created.topologies.push({ namespace: t.metadata.namespace, name: t.metadata.name });
      saveState(state);
    }
    // Every image before any pod: one that cannot be had stops the lab before anything runs.
    if (state.runtime === 'containerd') await allSettled(state.nodes.map((node) => ensureNodeImages(state, node, spec.pods, opts.progress)));
    // Through a runtime, several pods start at once, as a kubelet starts them (each waits on runc
    // and the CNI chain: a 20-pod container ring came up in 3.6 s one by one); bare pods one by one.
    const pods = spec.pods.map((p) => newPodState(spec.name, p));
    await untilFirstFailure(pods, state.runtime === 'containerd' ? CRI_POD_CONCURRENCY : 1, async (pod) => {
      state.pods.push(pod);
      saveState(state);
      await startPod(state, state.nodes.find((n) => n.name === pod.node)!, pod, opts.trace);
      saveState(state);
    });
    // The state lists pods in the file's order, whatever order they started in.
    state.pods.sort((a, b) => pods.indexOf(a) - pods.indexOf(b));
    saveState(state);
    await runPodExecs(state, opts.onExec);
    return state;
  } catch (e) {
    await labDown(spec.name, { runDir }).catch(() => undefined);
    throw e;
  }
}

export interface DownReport {
  podErrors: string[];
  removedNetns: number;
  daemonsStopped: number;
  /** What could not be deleted from the Kubernetes API server (kube labs). */
  apiErrors: string[];
}

/**
 * Tears a lab down: CNI DEL for each pod it recorded (in reverse), then every netns carrying the
 * lab's prefix, then its state directory. Works on a half-built lab and on a lab with no state.
 */
export async function labDown(name: string, opts: LabOptions = {}): Promise<DownReport> {
  const runDir = opts.runDir ?? LAB_RUN_DIR;
  const state = loadState(name, runDir);
  const podErrors: string[] = [];
  const prefix = labPrefix(name);
  // By prefix (leftovers of a run that never recorded them), and what the state records by name
  // (a lab brought up by an older version, whose names were `mnl-<lab>-…`).
  const recordedPods = new Set(state?.pods.map((p) => p.netns) ?? []);
  const recordedNodes = new Set(state?.nodes.map((n) => n.netns) ?? []);
  const recorded = new Set([...recordedPods, ...recordedNodes]);
  if (state?.nodes.some((n) => n.netns.startsWith(`mnl-${name}-`))) recorded.add(`mnl-${name}-fabric`);
  const ours = () => listNamedNetns().filter((n) => n.startsWith(prefix) || recorded.has(n));
  const before = ours().length;
  if (state) {
    // Several pods at once, as a runtime tears pods down; each DEL is independent.
    await inPool([...state.pods].reverse(), DOWN_CONCURRENCY, async (pod) => {
      const node = state.nodes.find((n) => n.name === pod.node);
      if (!node) return;
      try {
        await stopPod(state, node, pod, opts.trace);
      } catch (e) {
        podErrors.push(`${pod.namespace}/${pod.name}: ${(e as Error).message}`);
      }
    });
  }
  // Sandboxes the runtime has that the state never recorded (an up cut short): removed while the
  // daemons still answer their DELs.
  if (state?.runtime === 'containerd') {
    for (const node of state.nodes) {
      try {
        await removeSandboxesOf(state, node);
      } catch (e) {
        podErrors.push(`node ${node.name}: ${(e as Error).message}`);
      }
    }
  }
  // Daemons hold their node's netns open: stop them before removing namespaces, and remove
  // the sockets of any that could not clean up after themselves (killed, crashed).
  // With each node's meshnet socket, the directory its shim leaves DELs in while no daemon answers.
  const sockets = ours().filter((n) => n.startsWith(`${prefix}n.`) || recordedNodes.has(n))
    .flatMap((n) => ['meshnet', 'meshnetd-admin'].map((kind) => cniSocketPath(kind, netnsPath(n))))
    .flatMap((s) => [s, deferredDir(s)]);
  const daemonsStopped = await stopDaemons(name);
  await stopApiProxy(name);
  if (state?.runtime === 'containerd') for (const node of state.nodes) await stopNodeRuntime(state, node);
  if (state?.etcd) await stopLabEtcd(state.etcd.pid);
  for (const s of sockets) rmSync(s, { recursive: true, force: true });
  const apiErrors = state?.kube
    ? await cleanupKubeLab(state.kube, state.nodes.map((n) => n.name), state.pods.map((p) => p.namespace))
    : [];
  // Pods first, then nodes, then the fabric: parents outlive the links hanging off them.
  const order = (n: string) => (n.startsWith(`${prefix}p.`) || recordedPods.has(n) ? 0 : n === `${prefix}fabric` || n === `mnl-${name}-fabric` ? 2 : 1);
  for (const ns of ours().sort((a, b) => order(a) - order(b))) deleteNamedNetns(ns);
  rmSync(labDir(name, runDir), { recursive: true, force: true });
  return { podErrors, removedNetns: before - ours().length, daemonsStopped, apiErrors };
}

export function labState(name: string, opts: LabOptions = {}): LabState {
  const state = loadState(name, opts.runDir ?? LAB_RUN_DIR);
  if (!state) throw new LabError(`no lab named "${name}" is up`);
  return state;
}

export function listLabs(runDir = LAB_RUN_DIR): string[] {
  if (!existsSync(runDir)) return [];
  return readdirSync(runDir).filter((d) => existsSync(join(runDir, d, 'state.json')));
}
