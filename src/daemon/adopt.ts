// Pods running on this node that meshnet never saw: their sandbox was made while meshnet was not
// chained in the node's CNI config (before meshnet was installed, or while an uninstall had taken
// it out), so the runtime never called us and they have eth0 only. meshnetd asks the node's
// container runtime (CRI: ready sandboxes and their netns) and, for each sandbox of a pod whose
// Topology is not alive anywhere, runs the ADD the runtime would have run: same code, same status
// write, so the runtime's DEL (meshnet is chained now) later undoes it as usual.
import { existsSync } from 'node:fs';
import { criClient, sandboxStatus, listSandboxes } from '../cri/sandboxes';
import type { CniRequest } from './cni-socket';
import type { Logger } from '../log';
import { isAlive, type Topology } from '../topology';

export interface RuntimeSandbox {
  id: string;
  name: string;
  namespace: string;
  netnsPath: string;
}

/** The ready sandboxes of the runtime at `socket`, with their netns. */
export async function readySandboxes(socket: string): Promise<RuntimeSandbox[]> {
  const c = criClient(socket, { timeoutMs: 5000 });
  try {
    const out: RuntimeSandbox[] = [];
    for (const s of (await listSandboxes(c)).filter((x) => x.ready)) {
      try {
        out.push({ id: s.id, name: s.name, namespace: s.namespace, netnsPath: (await sandboxStatus(c, s.id)).netnsPath });
      } catch { /* gone meanwhile, or a host-network sandbox: nothing of ours */ }
    }
    return out;
  } finally {
    c.close();
  }
}

/** The CNI ADD a runtime would send for `s`: meshnet's bare entry (meshnetd supplies the rest), no prevResult. */
export function addRequestFor(s: RuntimeSandbox, cniVersion: string): CniRequest {
  return {
    env: {
      CNI_COMMAND: 'ADD', CNI_CONTAINERID: s.id, CNI_NETNS: s.netnsPath, CNI_IFNAME: 'eth0',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${s.namespace};K8S_POD_NAME=${s.name};K8S_POD_INFRA_CONTAINER_ID=${s.id}`,
      CNI_PATH: '/opt/cni/bin',
    },
    stdin: JSON.stringify({ cniVersion, name: 'meshnet', type: 'meshnet' }),
  };
}

export interface AdoptDeps {
  socket: string;
  /** The Topologies as the daemon's cache has them. */
  topologies(): Topology[];
  /** Sandboxes whose DEL this daemon has served: never adopted again. */
  deleted: ReadonlySet<string>;
  /** Runs a CNI request through the daemon's plugin path (under its lock). */
  run(req: CniRequest): Promise<{ exitCode: number; stdout: string }>;
  cniVersion: string;
  log: Logger;
}

/** Adopts what needs it; returns the pods it plumbed (namespace/name). */
export async function adoptUnseenPods(d: AdoptDeps): Promise<string[]> {
  if (!existsSync(d.socket)) return [];
  const byKey = new Map(d.topologies().map((t) => [`${t.metadata.namespace}/${t.metadata.name}`, t]));
  const adopted: string[] = [];
  for (const s of await readySandboxes(d.socket)) {
    const key = `${s.namespace}/${s.name}`;
    const t = byKey.get(key);
    if (!t || isAlive(t) || d.deleted.has(s.id) || !existsSync(s.netnsPath)) continue;
    const r = await d.run(addRequestFor(s, d.cniVersion));
    if (r.exitCode === 0) {
      adopted.push(key);
      d.log.info(`pod ${key} runs on this node (sandbox ${s.id.slice(0, 12)}) but its runtime never called meshnet (it was not chained then): plumbed its links now`);
    } else {
      d.log.warn(`pod ${key} runs on this node (sandbox ${s.id.slice(0, 12)}) without its links, and plumbing them failed (will retry): ${r.stdout.trim()}`);
    }
  }
  return adopted;
}
