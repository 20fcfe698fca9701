// The grpc-wire impairer (src/wire/impair.ts) and the impairment syntax (topology/impairment.ts),
// without a kernel: frames in, frames out, with a seeded random source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Impairer, QUEUE_LIMIT } from '../../src/wire/impair';
import { parseImpairment, TopologyError } from '../../src/topology';

/** A deterministic random source (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const frame = (n: number, size = 100) => Buffer.alloc(size, n & 0xff);

test('loss drops about that share of frames, the rest pass in order', () => {
  const out: number[] = [];
  const imp = new Impairer({ lossPct: 25 }, (f) => out.push(f.readUInt16BE(0)), seeded(1));
  for (let i = 0; i < 4000; i++) {
    const f = frame(0);
    f.writeUInt16BE(i, 0);
    imp.push(f);
  }
  assert.ok(Math.abs(out.length - 3000) < 150, `${out.length} passed`);
  assert.equal(imp.counters.lost, 4000 - out.length);
  assert.ok(out.every((n, i) => i === 0 || n > out[i - 1]!), 'in order');
});

test('corrupt flips exactly one bit, never in the virtio header or the Ethernet header', () => {
  const out: Buffer[] = [];
  const imp = new Impairer({ corruptPct: 100 }, (f) => out.push(f), seeded(2));
  const original = frame(0, 200);
  for (let i = 0; i < 500; i++) imp.push(original);
  assert.equal(original.every((b) => b === 0), true, 'the frame handed in is not modified');
  for (const f of out) {
    let bits = 0;
    f.forEach((b, i) => {
      if (b !== 0) {
        assert.ok(i >= 24, `byte ${i} changed`);
        bits += b.toString(2).split('1').length - 1;
      }
    });
    assert.equal(bits, 1);
  }
});

test('duplicate sends a frame twice', () => {
  const out: Buffer[] = [];
  const imp = new Impairer({ duplicatePct: 100 }, (f) => out.push(f), seeded(3));
  imp.push(frame(7));
  assert.deepEqual(out.map((f) => f[0]), [7, 7]);
  assert.equal(imp.counters.duplicated, 1);
});

test('delay holds each frame at least that long (never a fraction early), then releases them in order', async () => {
  const pushed: number[] = [];
  const out: [number, number][] = [];
  const imp = new Impairer({ delayMs: 30 }, (f) => out.push([f[0]!, performance.now() - pushed[f[0]!]!]), seeded(4));
  for (let i = 0; i < 5; i++) {
    pushed.push(performance.now());
    imp.push(frame(i));
  }
  assert.equal(out.length, 0);
  await sleep(60);
  assert.deepEqual(out.map(([n]) => n), [0, 1, 2, 3, 4]);
  // Held from its own push: 30 ms is a floor, as netem's; timers only ever make it later.
  assert.ok(out.every(([, held]) => held >= 30 && held < 45), JSON.stringify(out));
});

test('a timer that fires a fraction of a millisecond early releases nothing: frames leave at their time, not before', async () => {
  // The impairer's clock is the test's: at 29.6 ms the timer has fired (libuv rounds to whole
  // milliseconds, so real timers do fire that early) but the frames are not due yet.
  let clock = 0;
  const out: number[] = [];
  const imp = new Impairer({ delayMs: 30 }, (f) => out.push(f[0]!), seeded(8), () => clock);
  for (let i = 0; i < 3; i++) imp.push(frame(i));
  clock = 29.6;
  await sleep(45);
  assert.deepEqual(out, [], 'released before their time');
  clock = 30;
  await sleep(15);
  assert.deepEqual(out, [0, 1, 2]);
  imp.close();
});

test('rate spaces frames at their size over the rate', async () => {
  const out: number[] = [];
  const t0 = performance.now();
  // 1,000 bytes past the 10-byte virtio header at 8 Mbit/s: 1 ms each.
  const imp = new Impairer({ rateBps: 8e6 }, () => out.push(performance.now() - t0), seeded(5));
  for (let i = 0; i < 20; i++) imp.push(frame(i, 1010));
  await sleep(60);
  assert.equal(out.length, 20);
  assert.ok(out.at(-1)! >= 20 && out.at(-1)! < 40, `last left after ${out.at(-1)} ms`);
});

test(`a full queue (${QUEUE_LIMIT} frames) drops what comes next, as netem's limit`, () => {
  const imp = new Impairer({ delayMs: 1000 }, () => undefined, seeded(6));
  for (let i = 0; i < QUEUE_LIMIT + 10; i++) imp.push(frame(i));
  assert.equal(imp.waiting, QUEUE_LIMIT);
  assert.equal(imp.counters.queueDropped, 10);
  imp.close();
  assert.equal(imp.waiting, 0);
});

test('impairments are written as netem writes them; mistakes are refused naming the key', () => {
  assert.deepEqual(parseImpairment({ delay: '20ms', jitter: '500us', loss: '1%', rate: '100mbit', corrupt: '0.1%' }, 'i'),
    { delayMs: 20, jitterMs: 0.5, lossPct: 1, rateBps: 100e6, corruptPct: 0.1 });
  assert.equal(parseImpairment({}, 'i'), undefined);
  const refused = (v: unknown, field: string, why: RegExp) => assert.throws(() => parseImpairment(v, 'x.impairment'),
    (e: unknown) => e instanceof TopologyError && e.field === field && why.test(e.message));
  refused({ delay: '20' }, 'x.impairment.delay', /not a duration such as 20ms/);
  refused({ loss: '120%' }, 'x.impairment.loss', /0% to 100%/);
  refused({ rate: 'fast' }, 'x.impairment.rate', /not a rate such as 100mbit/);
  refused({ latency: '5ms' }, 'x.impairment.latency', /is not an impairment \(delay, jitter/);
  refused({ delay: 20 }, 'x.impairment.delay', /must be a string with its unit/);
  refused({ jitter: '5ms' }, 'x.impairment.jitter', /needs a delay/);
});
