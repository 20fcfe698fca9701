// The etcd a lab of the original meshnet runs (issue 11): Debian's etcd-server on the host's
// loopback, its data in the lab's directory, reached from the node namespaces through the lab's
// proxy (api-proxy.ts) on the same address and port, as the original meshnet's nodes reached
// their private etcd cluster.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from './errors';
import { processGone } from './daemons';
import type { LabState } from './state';

const READY_MS = 15_000;

/** A TCP port free on the host's loopback now (the kernel's choice). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolvePort(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Starts the lab's etcd; resolves once it answers. */
export async function startLabEtcd(state: LabState): Promise<{ pid: number; port: number }> {
  const [port, peer] = [await freePort(), await freePort()];
  const log = join(state.dir, 'etcd.log');
  const fd = openSync(log, 'a');
  const child = spawn('etcd', [
    '--name', 'lab', '--data-dir', join(state.dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${port}`, '--advertise-client-urls', `http://127.0.0.1:${port}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `lab=http://127.0.0.1:${peer}`,
  ], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new LabError('could not start etcd (Debian: apt-get install etcd-server)');
  const deadline = Date.now() + READY_MS;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: 'Lw==' }) });
      if (r.ok) return { pid, port };
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || processGone(pid)) throw new LabError(`etcd exited at start-up; see ${log}`);
    if (Date.now() > deadline) throw new LabError(`etcd did not answer within ${READY_MS} ms; see ${log}`);
    await sleep(50);
  }
}

/** Stops the lab's etcd (SIGTERM, then SIGKILL); its data goes with the lab's directory. */
export async function stopLabEtcd(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && !processGone(pid); i++) await sleep(30);
  if (!processGone(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
