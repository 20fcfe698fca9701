// One real meshnetd per lab node, running in the node's netns as a hostNetwork DaemonSet pod
// would. Lab daemons are tagged "--lab <name>" on their command line so `lab down` finds them
// even when the state file never recorded them.
import { spawn, spawnSync } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cniSocketPath } from '../plumbing/sockets';
import { nodeRuntime } from './containerd-node';
import { netnsPath } from './names';
import type { LabState, NodeState } from './state';
import type { WireTelemetry } from '../wire/dataplane';

// A restarted daemon may wait for its predecessor to release the gRPC port (daemon/main.ts listenRetrying).
const READY_TIMEOUT_MS = 30_000;

export function daemonBinary(state: LabState): string {
  return join(state.cniBinDir, '..', 'meshnetd');
}

/** Starts meshnetd for `node`, waits until its CNI socket accepts calls, returns its pid. */
export async function startDaemon(state: LabState, node: NodeState): Promise<number> {
  const bin = daemonBinary(state);
  if (!existsSync(bin)) throw new Error(`meshnetd not found at ${bin}: run npm run build`);
  const logFile = join(state.dir, 'nodes', node.name, 'meshnetd.log');
  const sock = cniSocketPath('meshnet', netnsPath(node.netns));
  // A socket left by a killed daemon (or by one of an old netns with the same inode) would end
  // the readiness wait below before this daemon listens.
  rmSync(sock, { force: true });
  const fd = openSync(logFile, 'a');
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS; // a node's daemon would not have it; it slows start-up
  // nsenter without --fork execs node in place, so the pid we get is the daemon's.
  const store = state.kube ? `kubernetes:${state.kube.daemonKubeconfig}` : state.store;
  const tls = state.peerTls ? nodeCertificate(state, node) : undefined;
  const child = spawn('nsenter', [`--net=${netnsPath(node.netns)}`, '--', process.execPath, ...nodeFlagsOf(bin), bin, '--node', node.name, '--node-ip', node.underlayIp, '--store', store,
    '--inter-node-link-type', state.interNodeLinkType ?? 'vxlan', '--vni-scheme', state.vniScheme ?? 'kne', '--lab', state.name,
    ...(tls ? ['--peer-tls', state.peerTls!, '--tls-cert', tls.cert, '--tls-key', tls.key, '--tls-ca', tls.ca] : []),
    // On a containerd node meshnetd chains meshnet into the runtime's CNI config, as the DaemonSet does.
    ...(state.runtime === 'containerd' ? ['--cni-install', '--cni-conf-dir', nodeRuntime(state, node).cniConfDir, '--cni-bin-dir', nodeRuntime(state, node).cniBinDir,
      '--cri-socket', nodeRuntime(state, node).socket] : [])], {
    detached: true, stdio: ['ignore', fd, fd], env,
  });
  closeSync(fd);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start meshnetd for node ${node.name}`);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!existsSync(sock)) {
    if (child.exitCode !== null || !existsSync(`/proc/${pid}`)) {
      throw new Error(`meshnetd for node ${node.name} exited at start-up; see ${logFile}:\n${tail(logFile)}`);
    }
    if (Date.now() > deadline) throw new Error(`meshnetd for node ${node.name} did not open ${sock} within ${READY_TIMEOUT_MS} ms`);
    await sleep(10);
  }
  return pid;
}

/**
 * The node's certificate for mTLS between daemons, made (with the lab's CA, on first use) by
 * scripts/make-certs.sh, the script operators use: it names the node and its underlay IP.
 */
export function nodeCertificate(state: LabState, node: NodeState): { cert: string; key: string; ca: string } {
  const dir = join(state.dir, 'pki');
  const out = { cert: join(dir, `${node.name}.crt`), key: join(dir, `${node.name}.key`), ca: join(dir, 'ca.crt') };
  if (existsSync(out.cert) && existsSync(out.key)) return out;
  const script = join(dirname(daemonBinary(state)), '..', 'scripts', 'make-certs.sh');
  if (!existsSync(script)) throw new Error(`peer_tls needs ${script} (the repository's scripts/) to make the lab's certificates`);
  const r = spawnSync('bash', [script, dir, node.name, node.underlayIp], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`making the certificate of node ${node.name}: ${r.stderr.trim()}`);
  return out;
}

/** The node flags in a bundle's shebang (`#!/usr/bin/env -S node FLAGS`): the daemon's build sets them. */
export function nodeFlagsOf(bin: string): string[] {
  const first = readFileSync(bin, 'utf8').slice(0, 200).split('\n')[0]!;
  const m = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)$/.exec(first);
  return m ? m[1]!.trim().split(' ').filter(Boolean) : [];
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-10).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Pids of running meshnetd processes tagged with this lab. */
export function labDaemonPids(lab: string): number[] {
  return labProcessPids(lab, (argv) => argv.some((a) => a.endsWith('meshnetd')));
}

/** Pids of the lab's API proxy (kube labs). */
export function labProxyPids(lab: string): number[] {
  return labProcessPids(lab, (argv) => argv.includes('api-proxy'));
}

function labProcessPids(lab: string, match: (argv: string[]) => boolean): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile
    }
    const i = argv.indexOf('--lab');
    if (i > 0 && argv[i + 1] === lab && match(argv)) pids.push(Number(d));
  }
  return pids;
}

/** SIGTERM, then SIGKILL after a grace period, every daemon of the lab; returns how many were stopped. */
export async function stopDaemons(lab: string, graceMs = 3000): Promise<number> {
  return stopPids(labDaemonPids(lab), graceMs);
}

/** Stops the lab's API proxy (after its daemons: they use it until they exit). */
export async function stopApiProxy(lab: string): Promise<number> {
  return stopPids(labProxyPids(lab), 3000);
}

async function stopPids(pids: number[], graceMs: number): Promise<number> {
  for (const pid of pids) {
    try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
  }
  const deadline = Date.now() + graceMs;
  let alive = pids;
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(20);
    alive = alive.filter((pid) => !processGone(pid));
  }
  for (const pid of alive) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  return pids.length;
}

/**
 * True once a process has exited: no /proc entry, or a zombie its parent has not reaped yet whose
 * threads are all gone. A killed Node process's main thread turns zombie before its other threads
 * have exited, and they share its open files: until the last goes, its listening sockets still
 * accept (a CNI call then got "connection reset" instead of "not running").
 */
export function processGone(pid: number): boolean {
  try {
    if (!/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return false;
    return readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return true;
  }
}

/** Stops one node's daemon (SIGTERM: it finishes queued calls) and starts a new one. */
export async function restartDaemon(state: LabState, node: NodeState): Promise<number> {
  const pid = node.daemonPid;
  if (pid !== undefined && existsSync(`/proc/${pid}`)) {
    try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    for (let i = 0; i < 150 && !processGone(pid); i++) await sleep(20);
    if (!processGone(pid)) process.kill(pid, 'SIGKILL');
  }
  node.daemonPid = await startDaemon(state, node);
  return node.daemonPid;
}

/** One node daemon's per-wire telemetry (GET /wires on its admin socket). */
export async function nodeWires(node: NodeState): Promise<WireTelemetry[]> {
  const socketPath = cniSocketPath('meshnetd-admin', netnsPath(node.netns));
  return new Promise((resolveGet, reject) => {
    const req = httpGet({ socketPath, path: '/wires', timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => {
        try {
          resolveGet(JSON.parse(body) as WireTelemetry[]);
        } catch (e) {
          reject(new Error(`meshnetd of node ${node.name}: bad /wires answer: ${(e as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`meshnetd of node ${node.name} did not answer on ${socketPath}`)));
    req.on('error', (e) => reject(new Error(`meshnetd of node ${node.name} (${socketPath}): ${e.message}`)));
  });
}

/**
 * Starts `meshnetctl lab api-proxy --lab NAME` (it reads the lab state for its target and nodes)
 * and waits until it listens in every node netns; returns its pid.
 */
export async function startApiProxyProcess(state: LabState): Promise<number> {
  const cli = join(state.cniBinDir, '..', 'meshnetctl');
  if (!existsSync(cli)) throw new Error(`meshnetctl not found at ${cli}: run npm run build`);
  const logFile = join(state.dir, 'api-proxy.log');
  const ready = join(state.dir, 'api-proxy.ready');
  rmSync(ready, { force: true });
  const fd = openSync(logFile, 'a');
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const child = spawn(process.execPath, [cli, 'lab', 'api-proxy', '--lab', state.name, '--run-dir', join(state.dir, '..')], { detached: true, stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the lab API proxy');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!existsSync(ready)) {
    if (child.exitCode !== null || processGone(pid)) throw new Error(`the lab API proxy exited at start-up; see ${logFile}:\n${tail(logFile)}`);
    if (Date.now() > deadline) throw new Error(`the lab API proxy did not get ready within ${READY_TIMEOUT_MS} ms; see ${logFile}`);
    await sleep(10);
  }
  return pid;
}
