/**
 * Network namespace handles. This file is the ONLY place that calls setns(2).
 * Read README.md in this folder for the hazards.
 */
import * as fs from 'node:fs';
import * as libc from './libc';
import { KernelError } from './errors';

export const NETNS_RUN_DIR = '/var/run/netns';
const CLONE_NEWNET = libc.CLONE_NEWNET;

/** A bare name means /var/run/netns/<name>; anything with a '/' is a path. */
export function netnsPath(nameOrPath: string): string {
  if (typeof nameOrPath !== 'string' || nameOrPath.length === 0) throw new Error('netns: name or path must be a non-empty string');
  if (nameOrPath.includes('/')) return nameOrPath;
  validateNetnsName(nameOrPath);
  return `${NETNS_RUN_DIR}/${nameOrPath}`;
}

function validateNetnsName(name: string): void {
  if (name.length === 0 || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || Buffer.byteLength(name) > 255) {
    throw new Error(`netns name: invalid value ${JSON.stringify(name)}`);
  }
}

export class NetNs {
  readonly path: string;
  #fd: number;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Open a netns by name (/var/run/netns/<name>) or path (/proc/PID/ns/net ...). */
  static open(nameOrPath: string): NetNs {
    const path = netnsPath(nameOrPath);
    const fd = libc.open(path, libc.O_RDONLY | libc.O_CLOEXEC);
    if (fd < 0) throw new KernelError(`opening netns ${path}`, libc.errno());
    return new NetNs(path, fd);
  }

  /** The calling thread's netns. */
  static current(): NetNs {
    const path = `/proc/self/task/${libc.gettid()}/ns/net`;
    const fd = libc.open(path, libc.O_RDONLY | libc.O_CLOEXEC);
    if (fd < 0) throw new KernelError(`opening current netns ${path}`, libc.errno());
    return new NetNs(path, fd);
  }

  /** The open file descriptor; -1 after close(). */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  close(): void {
    if (this.#fd >= 0) {
      libc.close(this.#fd);
      this.#fd = -1;
    }
  }

  toString(): string {
    return this.path;
  }
}

function setnsOrThrow(fd: number, what: string): void {
  if (libc.setns(fd, CLONE_NEWNET) < 0) throw new KernelError(`setns into ${what}`, libc.errno());
}

function isThenable(v: unknown): boolean {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Run fn with the calling thread inside ns, then switch back (always).
 * fn must be synchronous: anything it awaits would resume in the original netns.
 * Sockets created inside keep ns for life; sync /proc/sys reads/writes act on ns.
 */
export function withNetns<T>(ns: NetNs, fn: () => T): T {
  if (ns.closed) throw new Error(`withNetns: netns handle ${ns.path} is closed`);
  const origin = NetNs.current();
  try {
    setnsOrThrow(ns.fd, `netns ${ns.path}`);
    let result: T;
    try {
      result = fn();
    } finally {
      restore(origin);
    }
    if (isThenable(result)) {
      throw new Error(`withNetns(${ns.path}): fn returned a Promise; only synchronous work runs inside the netns`);
    }
    return result;
  } finally {
    origin.close();
  }
}

function restore(origin: NetNs): void {
  if (libc.setns(origin.fd, CLONE_NEWNET) < 0) {
    // The thread is stranded in the wrong netns: nothing after this is safe.
    const err = new KernelError(`restoring netns ${origin.path} after withNetns`, libc.errno());
    process.emitWarning(err.message);
    throw err;
  }
}

/** Run fn in a brand-new netns (unshare on this thread), then switch back. Internal. */
function inNewNetns<T>(what: string, fn: () => T): T {
  const origin = NetNs.current();
  try {
    if (libc.unshare(CLONE_NEWNET) < 0) throw new KernelError(`unshare(CLONE_NEWNET) for ${what}`, libc.errno());
    try {
      return fn();
    } finally {
      restore(origin);
    }
  } finally {
    origin.close();
  }
}

/** Make /var/run/netns exist and be a shared mount point, like iproute2's netns_add. */
function prepareRunDir(): void {
  try {
    fs.mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new KernelError(`creating ${NETNS_RUN_DIR}`, e.errno ?? -5);
  }
  let madeMount = false;
  for (;;) {
    if (libc.mount('', NETNS_RUN_DIR, 'none', libc.MS_SHARED | libc.MS_REC, null) === 0) return;
    const e = libc.errno();
    if (e !== 22 /* EINVAL: not a mount point yet */ || madeMount) {
      throw new KernelError(`making ${NETNS_RUN_DIR} a shared mount`, e);
    }
    if (libc.mount(NETNS_RUN_DIR, NETNS_RUN_DIR, 'none', libc.MS_BIND | libc.MS_REC, null) !== 0) {
      throw new KernelError(`bind-mounting ${NETNS_RUN_DIR} onto itself`, libc.errno());
    }
    madeMount = true;
  }
}

/** Bring `lo` up in the current netns with SIOCSIFFLAGS. */
function loopbackUp(what: string): void {
  const fd = libc.socket(libc.AF_INET, libc.SOCK_DGRAM | libc.SOCK_CLOEXEC, 0);
  if (fd < 0) throw new KernelError(`socket for lo in ${what}`, libc.errno());
  try {
    const ifr = Buffer.alloc(40);
    ifr.write('lo', 0, 'latin1');
    if (libc.ioctlPtr(fd, libc.SIOCGIFFLAGS, ifr) < 0) throw new KernelError(`reading lo flags in ${what}`, libc.errno());
    ifr.writeUInt16LE(ifr.readUInt16LE(16) | 1 /* IFF_UP */, 16);
    if (libc.ioctlPtr(fd, libc.SIOCSIFFLAGS, ifr) < 0) throw new KernelError(`setting lo up in ${what}`, libc.errno());
  } finally {
    libc.close(fd);
  }
}

/** What `ip netns add NAME` does, plus `lo` up. Throws KernelError EEXIST if it exists. */
export function createNamedNetns(name: string): void {
  validateNetnsName(name);
  const path = `${NETNS_RUN_DIR}/${name}`;
  prepareRunDir();
  const fd = libc.open(path, libc.O_RDONLY | libc.O_CREAT | libc.O_EXCL | libc.O_CLOEXEC, 'uint32_t', 0);
  if (fd < 0) throw new KernelError(`creating netns file ${path}`, libc.errno());
  libc.close(fd);
  try {
    inNewNetns(`netns ${path}`, () => {
      const self = `/proc/self/task/${libc.gettid()}/ns/net`;
      if (libc.mount(self, path, 'none', libc.MS_BIND, null) !== 0) {
        throw new KernelError(`bind-mounting ${self} onto ${path}`, libc.errno());
      }
      loopbackUp(`netns ${path}`);
    });
  } catch (err) {
    libc.umount2(path, libc.MNT_DETACH);
    libc.unlink(path);
    throw err;
  }
}

/** What `ip netns delete NAME` does. False if it did not exist. */
export function deleteNamedNetns(name: string): boolean {
  validateNetnsName(name);
  const path = `${NETNS_RUN_DIR}/${name}`;
  libc.umount2(path, libc.MNT_DETACH); // EINVAL (not mounted) / ENOENT are fine here
  if (libc.unlink(path) < 0) {
    const e = libc.errno();
    if (e === 2 /* ENOENT */) return false;
    throw new KernelError(`removing netns file ${path}`, e);
  }
  return true;
}

export function listNamedNetns(): string[] {
  try {
    return fs.readdirSync(NETNS_RUN_DIR).sort();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return [];
    throw new KernelError(`listing ${NETNS_RUN_DIR}`, e.errno ?? -5);
  }
}

export function netnsPathExists(nameOrPath: string): boolean {
  return fs.existsSync(netnsPath(nameOrPath));
}
