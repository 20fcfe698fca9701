// Pod sandboxes through a runtime's CRI, made as a kubelet makes them: RunPodSandbox (the runtime
// creates the netns and runs the node's CNI chain: primary, then meshnet), PodSandboxStatus for
// the netns and eth0's address, StopPodSandbox (CNI DEL) and RemovePodSandbox to tear down.
import { basename } from 'node:path';
import { criClient, type CriClient } from './client';
import { GrpcCallError, Status } from '../grpc/errors';

export interface SandboxSpec {
  name: string;
  namespace: string;
  uid: string;
  /** Directory for the sandbox's container logs (the CRI requires an absolute path). */
  logDirectory: string;
  attempt?: number;
  /** Privileged containers may run in it (router images need NET_ADMIN and sysctls, as containerlab gives them). */
  privileged?: boolean;
}

export interface Sandbox {
  id: string;
  /** The network namespace the runtime made, e.g. /var/run/netns/cni-1b2c…. */
  netnsPath: string;
  /** eth0's address, from the primary plugin's result as the runtime recorded it. */
  ip?: string;
}

/** The PodSandboxConfig of `s`, as RunPodSandbox and CreateContainer take it. */
export const sandboxConfig = (s: SandboxSpec) => ({
  metadata: { name: s.name, namespace: s.namespace, uid: s.uid, attempt: s.attempt ?? 0 },
  hostname: s.name,
  logDirectory: s.logDirectory,
  labels: { 'io.kubernetes.pod.name': s.name, 'io.kubernetes.pod.namespace': s.namespace, 'io.kubernetes.pod.uid': s.uid },
  linux: { securityContext: { namespaceOptions: {}, privileged: s.privileged ?? false } },
});

/** The network namespace path in a verbose PodSandboxStatus's info (containerd: the OCI spec's). */
export function sandboxNetns(info: Record<string, string>): string | undefined {
  const raw = info['info'];
  if (!raw) return undefined;
  let doc: { runtimeSpec?: { linux?: { namespaces?: Array<{ type?: string; path?: string }> } } };
  try {
    doc = JSON.parse(raw) as typeof doc;
  } catch {
    return undefined;
  }
  return doc.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path || undefined;
}

/** Runs a pod sandbox; what the runtime made of it. */
export async function runSandbox(c: CriClient, s: SandboxSpec): Promise<Sandbox> {
  const id = await c.call('RunPodSandbox', async (x) => (await x.runtime.runPodSandbox({ config: sandboxConfig(s) })).podSandboxId);
  return sandboxStatus(c, id);
}

export async function sandboxStatus(c: CriClient, id: string): Promise<Sandbox> {
  const st = await c.call('PodSandboxStatus', (x) => x.runtime.podSandboxStatus({ podSandboxId: id, verbose: true }));
  const netnsPath = sandboxNetns(st.info);
  if (!netnsPath) throw new Error(`the runtime at ${c.socket} did not say which netns sandbox ${id} has (PodSandboxStatus info)`);
  return { id, netnsPath, ...(st.status?.network?.ip ? { ip: st.status.network.ip } : {}) };
}

/** Stops and removes a sandbox, as kubelet does when a pod is deleted; a sandbox already gone is fine. */
export async function removeSandbox(c: CriClient, id: string): Promise<void> {
  try {
    await c.call('StopPodSandbox', (x) => x.runtime.stopPodSandbox({ podSandboxId: id }));
    await c.call('RemovePodSandbox', (x) => x.runtime.removePodSandbox({ podSandboxId: id }));
  } catch (e) {
    if (e instanceof GrpcCallError && e.code === Status.NOT_FOUND) return;
    throw e;
  }
}

/** The sandboxes the runtime has, ready or not. */
export async function listSandboxes(c: CriClient): Promise<Array<{ id: string; name: string; namespace: string; ready: boolean }>> {
  const r = await c.call('ListPodSandbox', (x) => x.runtime.listPodSandbox({}));
  return r.items.map((i) => ({ id: i.id, name: i.metadata?.name ?? '', namespace: i.metadata?.namespace ?? '', ready: i.state === 0 }));
}

/** The name under /var/run/netns of a sandbox's netns path. */
export function netnsName(path: string): string {
  return basename(path);
}

export { criClient };
