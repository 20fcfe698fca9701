// One containerd per lab node, run as a node runs it: inside the node's network namespace (so the
// CNI chain it execs, and the pods' bridge, are the node's), with its built-in CRI plugin, runc,
// and a CNI bin and conf directory of the node's own. Everything it keeps is under the node's
// directory: root, state, socket, runc's state, the CNI directories. What this machine needs
// (docs/decisions.md, "containerd in the lab"): restrict_oom_score_adj (root here lacks
// CAP_SYS_RESOURCE), cgroupfs rather than systemd, and a start through `nsenter --net=` (not
// `ip netns exec`, whose private mount namespace would hide the /var/run/netns/cni-* mounts the
// CRI makes from everyone else).
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { criClient } from '../cri/client';
import { unmountUnder } from '../kernel';

const execFileAsync = promisify(execFile);

export interface ContainerdNode {
  /** The node's containerd directory: config, root, state, runc state, log. */
  dir: string;
  /** CRI (and containerd API) socket. */
  socket: string;
  /** The node's CNI configuration and plugin directories, as /etc/cni/net.d and /opt/cni/bin on a node. */
  cniConfDir: string;
  cniBinDir: string;
}

export const PAUSE_IMAGE = 'localhost/meshnet-pause:1';
/** Where Debian's containernetworking-plugins live; a node's CNI bin dir links them. */
const SYSTEM_CNI_DIR = '/usr/lib/cni';
const START_TIMEOUT_MS = 30_000;

export function containerdNode(nodeDir: string): ContainerdNode {
  const dir = join(nodeDir, 'containerd');
  return { dir, socket: join(dir, 'containerd.sock'), cniConfDir: join(nodeDir, 'cni', 'net.d'), cniBinDir: join(nodeDir, 'cni', 'bin') };
}

const q = (s: string) => JSON.stringify(s);

/** containerd's configuration for a lab node (TOML, config version 2 as containerd 1.6 reads it). */
export function containerdConfig(n: ContainerdNode, sandboxImage = PAUSE_IMAGE): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = ${q(join(n.dir, 'root'))}
state = ${q(join(n.dir, 'state'))}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${q(n.socket)}

[ttrpc]
  address = ${q(`${n.socket}.ttrpc`)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(n.dir, 'opt'))}

[${cri}]
  sandbox_image = ${q(sandboxImage)}
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  Root = ${q(join(n.dir, 'runc'))}
  SystemdCgroup = false

[${cri}.cni]
  bin_dir = ${q(n.cniBinDir)}
  conf_dir = ${q(n.cniConfDir)}
  max_conf_num = 1
`;
}

/**
 * Prepares the node's directories (the CNI bin dir links every plugin Debian ships) and writes
 * the configuration; `primary` is the node's primary CNI conflist, as a cluster's CNI writes it.
 */
export function prepareContainerdNode(n: ContainerdNode, primary: { file: string; text: string }): void {
  for (const d of [n.dir, n.cniConfDir, n.cniBinDir]) mkdirSync(d, { recursive: true });
  if (!existsSync(SYSTEM_CNI_DIR)) throw new Error(`${SYSTEM_CNI_DIR} is missing: install Debian's containernetworking-plugins`);
  for (const p of readdirSync(SYSTEM_CNI_DIR)) {
    const link = join(n.cniBinDir, p);
    if (!existsSync(link)) symlinkSync(join(SYSTEM_CNI_DIR, p), link);
  }
  writeFileSync(join(n.cniConfDir, primary.file), primary.text);
  writeFileSync(join(n.dir, 'config.toml'), containerdConfig(n));
}

/** Starts containerd in the node's netns; resolves with its pid once its CRI answers. */
export async function startContainerd(n: ContainerdNode, netnsPath: string): Promise<number> {
  if (!existsSync('/usr/bin/containerd')) throw new Error('containerd is not installed (Debian package containerd; scripts/ensure.sh installs it)');
  rmSync(n.socket, { force: true });
  const logFile = join(n.dir, 'containerd.log');
  const fd = openSync(logFile, 'a');
  // nsenter without --fork execs containerd in place: the pid is containerd's.
  const child = spawn('nsenter', [`--net=${netnsPath}`, '--', '/usr/bin/containerd', '--config', join(n.dir, 'config.toml')], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start containerd (${n.dir})`);
  const deadline = Date.now() + START_TIMEOUT_MS;
  const c = criClient(n.socket, { timeoutMs: 2000 });
  try {
    for (;;) {
      if (!existsSync(`/proc/${pid}`) || child.exitCode !== null) throw new Error(`containerd exited at start-up; see ${logFile}:\n${tail(logFile)}`);
      if (existsSync(n.socket)) {
        try {
          await c.runtime.version({});
          return pid;
        } catch { /* not serving the CRI yet */ }
      }
      if (Date.now() > deadline) throw new Error(`containerd did not answer on ${n.socket} within ${START_TIMEOUT_MS} ms; see ${logFile}`);
      await sleep(50);
    }
  } finally {
    c.close();
  }
}

/**
 * `ctr images import` of an OCI or docker-save archive into the CRI's namespace. Not blocking: a
 * lab imports into every node's containerd at once (a router image is hundreds of MB).
 */
export async function importImage(n: ContainerdNode, archive: string): Promise<void> {
  try {
    await execFileAsync('ctr', ['--address', n.socket, '--namespace', 'k8s.io', 'images', 'import', '--no-unpack', archive], { maxBuffer: 16 << 20 });
  } catch (e) {
    const x = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`importing ${archive} into containerd (${n.socket}): ${(x.stderr || x.stdout || x.message).trim()}`);
  }
}

/**
 * Stops the node's containerd and whatever it left: SIGTERM (then SIGKILL), its shims and the
 * containers runc still knows (a killed containerd leaves both running), then the mounts under
 * its directory (sandbox /dev/shm, rootfs overlays). Safe on a node that never started one.
 */
export async function stopContainerd(n: ContainerdNode, pid: number | undefined, graceMs = 5000): Promise<void> {
  if (pid !== undefined && isContainerd(pid, n)) {
    try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    const end = Date.now() + graceMs;
    while (existsSync(`/proc/${pid}`) && !zombie(pid) && Date.now() < end) await sleep(20);
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  for (const shim of processesNaming(n.socket)) {
    try { process.kill(shim, 'SIGKILL'); } catch { /* gone */ }
  }
  const runcRoot = join(n.dir, 'runc');
  if (existsSync(runcRoot)) {
    for (const ns of readdirSync(runcRoot)) {
      const root = join(runcRoot, ns);
      const list = spawnSync('runc', ['--root', root, 'list', '-q'], { encoding: 'utf8' });
      for (const id of list.stdout?.split('\n').filter(Boolean) ?? []) spawnSync('runc', ['--root', root, 'delete', '--force', id]);
    }
  }
  unmountUnder(n.dir);
}

function isContainerd(pid: number, n: ContainerdNode): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(join(n.dir, 'config.toml'));
  } catch {
    return false;
  }
}

function zombie(pid: number): boolean {
  try {
    return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Pids whose command line has an argument `pred` accepts. */
function processesWithArg(pred: (arg: string) => boolean): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').some(pred)) out.push(Number(d));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/** Pids whose command line names `path` (a containerd's shims carry its socket as -address). */
export function processesNaming(path: string): number[] {
  return processesWithArg((a) => a === path);
}

/** Pids with an argument under directory `dir` (a lab node's containerd and shims carry its paths). */
export function processesUnder(dir: string): number[] {
  return processesWithArg((a) => a.startsWith(`${dir}/`));
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}
