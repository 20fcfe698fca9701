// Plays the container runtime for lab pods: a sandbox is a named netns, and the node's CNI
// chain is exec'd exactly as a runtime does it (binary found in CNI_PATH, CNI_* variables,
// config on stdin, prevResult chained), from inside the node's netns via nsenter, since a
// real node runs its plugins in the host netns.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  addNetworkList, versionAtLeast, checkNetworkList, delNetworkList, parseConfList,
  type ConfList, type ExecTrace, type Invocation,
} from '../cni';
import { createNamedNetns, deleteNamedNetns } from '../kernel';
import { startCriPod, stopCriPod } from './containerd-node';
import { netnsPath, podNetns } from './names';
import type { LabPod } from './labfile';
import type { LabState, NodeState, PodState } from './state';

export const SYSTEM_CNI_DIR = '/usr/lib/cni';

export function loadConfList(path: string): ConfList {
  return parseConfList(readFileSync(path, 'utf8'));
}

export function invocation(state: LabState, node: NodeState, pod: PodState): Invocation {
  return {
    containerId: pod.containerId,
    netns: netnsPath(pod.netns),
    ifname: 'eth0',
    args: {
      IgnoreUnknown: '1',
      K8S_POD_NAMESPACE: pod.namespace,
      K8S_POD_NAME: pod.name,
      K8S_POD_INFRA_CONTAINER_ID: pod.containerId,
      K8S_POD_UID: pod.uid,
    },
    path: [state.cniBinDir, SYSTEM_CNI_DIR],
    wrapper: ['nsenter', `--net=${netnsPath(node.netns)}`, '--'],
    timeoutMs: 60_000,
  };
}

export function newPodState(lab: string, pod: LabPod): PodState {
  return {
    name: pod.name,
    namespace: pod.namespace,
    node: pod.node,
    netns: podNetns(lab, pod),
    containerId: randomBytes(32).toString('hex'),
    uid: randomUUID(),
    ...(pod.container ? { container: { ...pod.container } } : {}),
  };
}

/** Creates the sandbox and runs CNI ADD; on failure runs DEL and removes the sandbox, as kubelet does. */
export async function startPod(state: LabState, node: NodeState, pod: PodState, trace?: ExecTrace[]): Promise<void> {
  // Through the node's CRI: containerd makes the sandbox and runs the chain (and undoes a failure).
  if (state.runtime === 'containerd') return startCriPod(state, node, pod);
  createNamedNetns(pod.netns);
  const list = loadConfList(node.conflist);
  const inv = invocation(state, node, pod);
  try {
    pod.result = await addNetworkList(list, inv, trace);
  } catch (e) {
    await delNetworkList(list, inv, undefined).catch(() => undefined);
    deleteNamedNetns(pod.netns);
    throw e;
  }
}

/** CNI CHECK through the pod's chain; false when its config's version predates CHECK (0.4.0). */
export async function checkPod(state: LabState, node: NodeState, pod: PodState): Promise<boolean> {
  // The CRI has no CHECK (a kubelet never asks for one): the lab's own checks stand.
  if (state.runtime === 'containerd') return false;
  if (!pod.result) throw new Error(`pod ${pod.namespace}/${pod.name} has no ADD result to check against`);
  const list = loadConfList(node.conflist);
  if (!versionAtLeast(list.cniVersion, '0.4.0')) return false;
  await checkNetworkList(list, invocation(state, node, pod), pod.result);
  return true;
}

/** CNI DEL then sandbox removal; each step tolerates what is already gone. */
export async function stopPod(state: LabState, node: NodeState, pod: PodState, trace?: ExecTrace[]): Promise<void> {
  if (state.runtime === 'containerd') return stopCriPod(state, node, pod);
  try {
    await delNetworkList(loadConfList(node.conflist), invocation(state, node, pod), pod.result, trace);
  } finally {
    deleteNamedNetns(pod.netns);
  }
}
