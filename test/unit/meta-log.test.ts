// The meta plugins' file logger: level filter, rotation by size and count, never stdout.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLogger } from '../../src/chained/log';
import type { LogOptions } from '../../src/chained/config';

const dir = mkdtempSync(join(tmpdir(), 'meta-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const opts = (file: string, extra: Partial<LogOptions> = {}): LogOptions =>
  ({ level: 'info', file, maxSizeMb: 1, maxAgeDays: 30, maxCount: 2, ...extra });

test('writes lines at or above the level, creating the directory', () => {
  const file = join(dir, 'a', 'b', 'veth.log');
  const log = new FileLogger(opts(file), { plugin: 'veth', command: 'ADD', container: 'c1', ifname: 'eth0' });
  log.debug('hidden');
  log.info('shown');
  log.error('bad');
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^ts=\d{4}-\d\d-\d\dT\S+ level=info msg=shown plugin=veth command=ADD container=c1 ifname=eth0$/);
  assert.match(lines[1]!, /^ts=\S+ level=error msg=bad plugin=veth /);
});

test('rotates a file past log_max_size and keeps log_max_count old files', () => {
  const file = join(dir, 'rot.log');
  for (let i = 0; i < 4; i++) {
    writeFileSync(file, Buffer.alloc(1024 * 1024 + 1, 0x61));
    new FileLogger(opts(file), {}).info(`gen ${i}`);
  }
  assert.match(readFileSync(file, 'utf8'), /gen 3/);
  assert.ok(existsSync(`${file}.1`) && existsSync(`${file}.2`));
  assert.ok(!existsSync(`${file}.3`), 'only log_max_count rotated files are kept');
});

test('an unwritable log file never fails the caller: one note on stderr', () => {
  const notes: string[] = [];
  const log = new FileLogger(opts('/proc/version/nope.log'), {}, (s) => notes.push(s));
  log.info('a');
  log.info('b');
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, /cannot write log file \/proc\/version\/nope\.log/);
});
