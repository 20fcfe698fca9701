// Containers in a pod sandbox and their images through a runtime's CRI, as a kubelet makes them:
// the image is looked up (ImageStatus) and pulled when missing (PullImage), then CreateContainer
// in the sandbox and StartContainer; ContainerStatus for its state and process; ExecSync to run a
// command in it. RemovePodSandbox removes a sandbox's containers with it.
import { GrpcCallError, Status } from '../grpc/errors';
import type { CriClient } from './client';
import { sandboxConfig, type SandboxSpec } from './sandboxes';

export interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  mounts?: Array<{ host: string; container: string; readOnly: boolean }>;
  /** CPU limit in cores. */
  cpu?: number;
  /** Memory limit in bytes. */
  memory?: number;
  privileged?: boolean;
  /** File the runtime writes the container's output to, relative to the sandbox's log directory. */
  logPath: string;
}

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';
const STATES: ContainerState[] = ['created', 'running', 'exited', 'unknown'];

export interface ContainerInfo {
  id: string;
  state: ContainerState;
  image: string;
  exitCode: number;
  /** The container's first process on this machine (containerd's verbose info), while it runs. */
  pid?: number;
}

/** The image's id when the runtime has it, else undefined. */
export async function imagePresent(c: CriClient, image: string): Promise<string | undefined> {
  const r = await c.call('ImageStatus', (x) => x.images.imageStatus({ image: { image } }));
  return r.image?.id || undefined;
}

/** Pulls `image` as the runtime pulls it (its registries and mirrors); its reference. */
export async function pullImage(c: CriClient, image: string): Promise<string> {
  const r = await c.call('PullImage', (x) => x.images.pullImage({ image: { image } }));
  return r.imageRef;
}

/** The images the runtime has: each one's names (repo tags). */
export async function listImages(c: CriClient): Promise<Array<{ id: string; tags: string[]; size: number }>> {
  const r = await c.call('ListImages', (x) => x.images.listImages({}));
  return r.images.map((i) => ({ id: i.id, tags: i.repoTags, size: Number(i.size) }));
}

/** CRI NamespaceMode CONTAINER: the container's own namespace. */
const NAMESPACE_CONTAINER = 1;

/** CPU period of the CFS quota a `cpu` limit becomes (kubelet's). */
const CPU_PERIOD_US = 100_000;

/** Creates and starts `spec` in sandbox `sandboxId` (made from `sandbox`); the container's id. */
export async function runContainer(c: CriClient, sandboxId: string, sandbox: SandboxSpec, spec: ContainerSpec): Promise<string> {
  const resources = {
    ...(spec.cpu ? { cpuPeriod: BigInt(CPU_PERIOD_US), cpuQuota: BigInt(Math.round(spec.cpu * CPU_PERIOD_US)) } : {}),
    ...(spec.memory ? { memoryLimitInBytes: BigInt(spec.memory) } : {}),
  };
  const id = await c.call('CreateContainer', async (x) => (await x.runtime.createContainer({
    podSandboxId: sandboxId,
    sandboxConfig: sandboxConfig(sandbox),
    config: {
      metadata: { name: spec.name, attempt: 0 },
      image: { image: spec.image },
      command: spec.command ?? [],
      args: spec.args ?? [],
      envs: Object.entries(spec.env ?? {}).map(([key, value]) => ({ key, value })),
      mounts: (spec.mounts ?? []).map((m) => ({ hostPath: m.host, containerPath: m.container, readonly: m.readOnly })),
      logPath: spec.logPath,
      // Its own PID namespace, as kubelet gives each container (CRI's default is the pod's).
      linux: { resources, securityContext: { privileged: spec.privileged ?? false, namespaceOptions: { pid: NAMESPACE_CONTAINER } } },
    },
  })).containerId);
  await c.call('StartContainer', (x) => x.runtime.startContainer({ containerId: id }));
  return id;
}

export async function containerStatus(c: CriClient, id: string): Promise<ContainerInfo> {
  const r = await c.call('ContainerStatus', (x) => x.runtime.containerStatus({ containerId: id, verbose: true }));
  const st = r.status;
  let pid: number | undefined;
  try {
    const info = JSON.parse(r.info['info'] ?? '{}') as { pid?: number };
    if (typeof info.pid === 'number' && info.pid > 0) pid = info.pid;
  } catch { /* no verbose info from this runtime */ }
  const state = STATES[st?.state ?? 3] ?? 'unknown';
  return { id, state, image: st?.image?.image ?? '', exitCode: st?.exitCode ?? 0, ...(pid && state === 'running' ? { pid } : {}) };
}

/** Runs `cmd` in the container and waits for it (at most `timeoutS`, 0: no limit). */
export async function execSync(c: CriClient, id: string, cmd: string[], timeoutS = 0): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await c.call('ExecSync', (x) => x.runtime.execSync({ containerId: id, cmd, timeout: BigInt(timeoutS) }));
  return { exitCode: r.exitCode, stdout: Buffer.from(r.stdout).toString('utf8'), stderr: Buffer.from(r.stderr).toString('utf8') };
}

/** Whether an error from the runtime says the thing asked for does not exist. */
export function isNotFound(e: unknown): boolean {
  return e instanceof GrpcCallError && e.code === Status.NOT_FOUND;
}
