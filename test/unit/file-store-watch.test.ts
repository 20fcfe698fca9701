// The embedded store's watch must not lose a change that a writer is in the middle of (found as
// lab link and impairment changes that meshnetd never applied, 1 run in 10): a writer bumps the
// store's version counter, then writes the object, both under the store's lock; a watcher that
// listed without the lock in between paired the new version with the old object and never
// listed again. Here another process is that writer, held between its two steps on purpose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FileStore } from '../../src/store/file-store';
import type { WatchEvent } from '../../src/store';
import { until } from '../helpers/wait';

const topo = (rv?: string, addr = '10.0.0.1/24') => ({
  apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology',
  metadata: { name: 'r1', namespace: 'default', ...(rv ? { resourceVersion: rv } : {}) },
  spec: { links: [{ uid: 1, peer_pod: 'r2', local_intf: 'eth1', peer_intf: 'eth1', local_ip: addr }] },
});

/** Another process writing as the store writes (version first, object second), pausing `ms` between. */
function slowWriter(dir: string, ms: number): Promise<number | null> {
  const script = `
    const { lockFile } = await import('${resolve('src/kernel/index.ts')}');
    const fs = await import('node:fs');
    const lock = lockFile('${join(dir, '.lock')}');
    const rv = String(Number(fs.readFileSync('${join(dir, '.rv')}', 'utf8')) + 1);
    fs.writeFileSync('${join(dir, '.rv')}.tmp', rv); fs.renameSync('${join(dir, '.rv')}.tmp', '${join(dir, '.rv')}');
    console.log('bumped');
    await new Promise((r) => setTimeout(r, ${ms}));
    const p = '${join(dir, 'topologies', 'default', 'r1.json')}';
    const o = JSON.parse(fs.readFileSync(p, 'utf8'));
    o.metadata.resourceVersion = rv;
    o.spec.links[0].local_ip = '10.9.9.1/24';
    fs.writeFileSync(p + '.tmp', JSON.stringify(o)); fs.renameSync(p + '.tmp', p);
    lock.release();`;
  return new Promise((res) => {
    const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    c.on('close', (code) => res(code));
  });
}

test('a change written while the watch lists is delivered (the list is taken under the store\'s lock)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fs-watch-'));
  const store = new FileStore(dir);
  const events: WatchEvent[] = [];
  const w = store.watch('topologies', undefined, (e) => events.push(e));
  try {
    await store.create('topologies', topo());
    await w.synced;
    await until('the created object', () => events.some((e) => e.type === 'ADDED'));
    // The watcher polls every 100 ms: the writer's 600 ms pause between its steps spans several polls.
    assert.equal(await slowWriter(dir, 600), 0);
    await until('the change delivered', () => events.some((e) => e.type === 'MODIFIED' && JSON.stringify(e.object).includes('10.9.9.1/24')), 3000,
      () => `events: ${events.map((e) => `${e.type} rv ${e.object.metadata.resourceVersion}`).join(', ')}`);
  } finally {
    w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
