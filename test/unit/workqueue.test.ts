// The controller's work queue: dedup, no key processed twice at once, re-processing of a key
// added while it runs, per-key backoff on failure reset by success.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkQueue } from '../../src/daemon/workqueue';

test('a key added many times before it is taken is processed once', async () => {
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100, workers: 2 });
  const seen: string[] = [];
  for (let i = 0; i < 5; i++) { q.add('a'); q.add('b'); }
  q.run(async (k) => { seen.push(k); return true; });
  await sleep(30);
  await q.stop();
  assert.deepEqual(seen.sort(), ['a', 'b']);
});

test('a key added while it is being processed runs again afterwards, never twice at the same time', async () => {
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100, workers: 4 });
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  q.run(async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    runs++;
    if (runs === 1) { q.add('k'); q.add('k'); }
    await sleep(20);
    running--;
    return true;
  });
  q.add('k');
  await sleep(100);
  await q.stop();
  assert.equal(runs, 2);
  assert.equal(maxRunning, 1);
});

test('a failing key comes back with growing delays; a success resets them', async () => {
  const q = new WorkQueue({ baseDelayMs: 20, maxDelayMs: 1000, workers: 1 });
  const at: number[] = [];
  const t0 = Date.now();
  q.run(async () => { at.push(Date.now() - t0); return at.length >= 4; });
  q.add('x');
  await sleep(300);
  await q.stop();
  assert.equal(at.length, 4);
  const gaps = at.slice(1).map((t, i) => t - at[i]!);
  assert.ok(gaps[0]! >= 15 && gaps[1]! >= 35 && gaps[2]! >= 75, `gaps ${gaps.join(', ')} ms grow 20, 40, 80`);
  assert.equal(q.retries('x'), 0, 'forgotten after the success');
});

test('several workers share the keys', async () => {
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100, workers: 3 });
  let running = 0;
  let maxRunning = 0;
  q.run(async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await sleep(30);
    running--;
    return true;
  });
  for (const k of ['a', 'b', 'c', 'd', 'e', 'f']) q.add(k);
  await sleep(120);
  await q.stop();
  assert.equal(maxRunning, 3);
});
