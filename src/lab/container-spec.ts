// A lab pod that names an image runs it as a container (issue 18): in a sandbox made through its
// node's containerd CRI, as a kubelet makes it, so the CNI chain is the runtime's. The pod fields
// follow containerlab's node fields (image, cmd, binds, env, exec) and Kubernetes' (command,
// args, resources); every value is checked here, naming its field.
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { MeshnetError } from '../errors';

export interface LabBind {
  /** Absolute path on the machine (resolved against the lab file's directory). */
  host: string;
  /** Absolute path in the container. */
  container: string;
  readOnly: boolean;
}

export interface LabContainer {
  /** Image reference as containerd names it, e.g. `localhost/frr:9` or `docker.io/library/busybox:1.36`. */
  image: string;
  /** Replaces the image's entrypoint (Kubernetes `command`). */
  command?: string[];
  /** Replaces the image's cmd (Kubernetes `args`). */
  args?: string[];
  env?: Record<string, string>;
  binds?: LabBind[];
  /** Shell commands run in the container, in order, once the pod's links are up (containerlab's `exec`). */
  exec?: string[];
  /** CPU limit in cores (0.5 is half a core). */
  cpu?: number;
  /** Memory limit in bytes. */
  memory?: number;
}

/** The pod keys that make a container pod. */
export const CONTAINER_KEYS = ['image', 'command', 'args', 'env', 'binds', 'exec', 'cpu', 'memory'] as const;

export class ContainerSpecError extends MeshnetError {
  readonly code = 'InvalidLabFile';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ContainerSpecError(field, `must be a list of strings, got ${JSON.stringify(v)}`);
  return v as string[];
}

/** An image reference: [registry/]path[:tag][@digest], lower-case path, no spaces. */
const IMAGE_REF = /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export function isImageRef(s: string): boolean {
  return s.length <= 255 && IMAGE_REF.test(s);
}

/** Memory as Kubernetes writes it (256Mi, 1Gi, 500M) or a byte count. */
function memoryBytes(v: unknown, field: string): number {
  const units: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  const m = typeof v === 'number' ? [String(v), String(v), ''] : typeof v === 'string' ? /^(\d+)(K|M|G|Ki|Mi|Gi)?$/.exec(v) : null;
  const bytes = m ? Number(m[1]) * units[m[2] ?? '']! : NaN;
  // Below 6 MiB runc cannot start a container at all.
  if (!Number.isSafeInteger(bytes) || bytes < 6 * 1024 ** 2) throw new ContainerSpecError(field, `must be at least 6Mi, as 256Mi, 1Gi or a byte count; got ${JSON.stringify(v)}`);
  return bytes;
}

/**
 * The container fields of lab pod `p` (field names prefixed by `at`, e.g. `pods[2]`); undefined
 * when it names no image (a bare pod). Bind sources are resolved against `baseDir` and must exist.
 */
export function parseContainer(p: Record<string, unknown>, at: string, baseDir: string): LabContainer | undefined {
  if (p.image === undefined) {
    const stray = CONTAINER_KEYS.find((k) => p[k] !== undefined);
    if (stray) throw new ContainerSpecError(`${at}.${stray}`, 'applies to a pod that runs an image: give the pod an image');
    return undefined;
  }
  if (typeof p.image !== 'string' || !isImageRef(p.image)) throw new ContainerSpecError(`${at}.image`, `must be an image reference such as localhost/frr:9 or busybox:1.36, got ${JSON.stringify(p.image)}`);
  const c: LabContainer = { image: p.image };
  if (p.command !== undefined) c.command = strings(p.command, `${at}.command`);
  if (p.args !== undefined) c.args = strings(p.args, `${at}.args`);
  if (p.exec !== undefined) c.exec = strings(p.exec, `${at}.exec`);
  if (p.env !== undefined) {
    if (!isRecord(p.env)) throw new ContainerSpecError(`${at}.env`, `must be a mapping of NAME: value, got ${JSON.stringify(p.env)}`);
    c.env = {};
    for (const [k, v] of Object.entries(p.env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new ContainerSpecError(`${at}.env.${k}`, 'is not an environment variable name');
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new ContainerSpecError(`${at}.env.${k}`, `must be a string, got ${JSON.stringify(v)}`);
      c.env[k] = String(v);
    }
  }
  if (p.binds !== undefined) {
    c.binds = strings(p.binds, `${at}.binds`).map((b, j) => {
      const field = `${at}.binds[${j}]`;
      const parts = b.split(':');
      if (parts.length < 2 || parts.length > 3 || (parts[2] !== undefined && parts[2] !== 'ro' && parts[2] !== 'rw')) {
        throw new ContainerSpecError(field, `must be HOST:CONTAINER or HOST:CONTAINER:ro, got ${JSON.stringify(b)}`);
      }
      const [src, dst, mode] = parts as [string, string, string | undefined];
      if (!isAbsolute(dst)) throw new ContainerSpecError(field, `the path in the container must be absolute, got ${JSON.stringify(dst)}`);
      const host = resolve(baseDir, src);
      if (!existsSync(host)) throw new ContainerSpecError(field, `${host} does not exist`);
      return { host, container: dst, readOnly: mode === 'ro' };
    });
  }
  if (p.cpu !== undefined) {
    if (typeof p.cpu !== 'number' || !(p.cpu >= 0.01 && p.cpu <= 1024)) throw new ContainerSpecError(`${at}.cpu`, `must be a number of cores from 0.01, got ${JSON.stringify(p.cpu)}`);
    c.cpu = p.cpu;
  }
  if (p.memory !== undefined) c.memory = memoryBytes(p.memory, `${at}.memory`);
  return c;
}
