// A real etcd (Debian's etcd-server) for one test file: loopback only, free ports, a temp data
// directory, stopped and removed in `stop()`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolvePort(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export interface TestEtcd {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  stop(): Promise<void>;
}

export async function startEtcd(): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-test-'));
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const child = spawn('etcd', [
    '--name', 't', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `t=http://127.0.0.1:${peer}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
  const stop = async () => {
    child.kill('SIGTERM');
    for (let i = 0; i < 100 && child.exitCode === null && child.signalCode === null; i++) await sleep(20);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 250; i++) {
    try {
      const r = await fetch(`${endpoint}/health`);
      if (r.ok && ((await r.json()) as { health?: string }).health === 'true') return { endpoint, stop };
    } catch { /* not up yet */ }
    if (child.exitCode !== null) break;
    await sleep(20);
  }
  await stop();
  throw new Error(`etcd did not become healthy on ${endpoint}:\n${log}`);
}
