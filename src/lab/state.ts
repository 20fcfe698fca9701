// What a lab run made, written as it goes so `lab down` can undo a half-finished `up`.
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { CniResult } from '../cni';
import type { KubeLabState } from './kube';
import { LAB_RUN_DIR } from './names';
import type { LabContainer } from './container-spec';

export interface NodeState {
  name: string;
  netns: string;
  underlayIp: string;
  podSubnet: string;
  conflist: string;
  /** meshnetd serving this node's CNI calls, when the lab started one. */
  daemonPid?: number;
  /** The node's containerd (runtime: containerd): its pid once started. */
  containerd?: { pid?: number };
}

export interface PodState {
  name: string;
  namespace: string;
  node: string;
  netns: string;
  containerId: string;
  uid: string;
  /** The chain's ADD result, handed back as prevResult on DEL like a runtime's result cache. */
  result?: CniResult;
  /** The pod's sandbox in its node's containerd (runtime: containerd); `containerId` is the same id. */
  sandboxId?: string;
  /** eth0's address as the runtime reports it (runtime: containerd; netns pods have `result`). */
  ip?: string;
  /** A pod that runs an image: its container's spec, and its id in the node's containerd once made. */
  container?: LabContainer & { id?: string };
}

export interface LabState {
  name: string;
  file: string;
  dir: string;
  /** Store reference of the lab's Topology objects (the lab's own directory: every node reaches it). */
  store: string;
  cniBinDir: string;
  /** Each node's meshnetd --inter-node-link-type. */
  interNodeLinkType?: 'vxlan' | 'grpc';
  /** Each node's meshnetd --vni-scheme (default kne). */
  vniScheme?: 'kne' | 'upstream';
  /** meshnetd --peer-tls of every node daemon (certificates in DIR/pki). */
  peerTls?: 'permit' | 'require';
  /** Extra meshnet plugin settings from the lab file, written into every node's conflist. */
  meshnet?: Record<string, unknown>;
  /** Set when the store is a Kubernetes API server (lab up --kubeconfig). */
  kube?: KubeLabState;
  /** The process making the API server (or the lab's etcd) reachable from the node namespaces. */
  apiProxyPid?: number;
  /** The etcd a lab of the original meshnet runs (etcd.ts), and that meshnet's CNI config. */
  etcd?: { pid: number; port: number };
  originalMeshnet?: Record<string, unknown>;
  /** Who makes the pods (labfile.ts): containerd's CRI on each node, or the lab itself (absent). */
  runtime?: 'containerd';
  /** cniVersion of each node's primary CNI config. */
  cniVersion?: string;
  createdAt: string;
  nodes: NodeState[];
  pods: PodState[];
}

export function labDir(lab: string, runDir = LAB_RUN_DIR): string {
  return join(runDir, lab);
}

export function saveState(s: LabState): void {
  mkdirSync(s.dir, { recursive: true });
  const p = join(s.dir, 'state.json');
  writeFileSync(`${p}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${p}.tmp`, p);
}

export function loadState(lab: string, runDir = LAB_RUN_DIR): LabState | undefined {
  try {
    return JSON.parse(readFileSync(join(labDir(lab, runDir), 'state.json'), 'utf8')) as LabState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
