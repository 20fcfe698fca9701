// The one log format of every binary: logfmt lines (or JSON lines) with time, level and message
// first, fields after; a line parses back to what was logged whatever the message holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { LogLimiter, createLogger, formatLogLine, logSettings, memoryLogger, parseLogfmt } from '../../src/log';

const at = new Date('2026-11-29T10:00:00.000Z');

test('a logfmt line has ts, level and msg first, then the fields; values with spaces are quoted', () => {
  assert.equal(formatLogLine('logfmt', 'warn', 'wire stream to 10.0.0.2 broke', { component: 'meshnetd', node: 'n1', frames: 3 }, at),
    'ts=2026-11-29T10:00:00.000Z level=warn msg="wire stream to 10.0.0.2 broke" component=meshnetd node=n1 frames=3\n');
});

test('a JSON line carries the same keys', () => {
  const line = formatLogLine('json', 'info', 'cni call', { command: 'ADD', exit: 0 }, at);
  assert.deepEqual(JSON.parse(line), { ts: '2026-11-29T10:00:00.000Z', level: 'info', msg: 'cni call', command: 'ADD', exit: 0 });
});

test('any message and field value parses back from its logfmt line (quotes, backslashes, newlines, control bytes, =)', () => {
  for (let i = 0; i < 500; i++) {
    const msg = randomBytes(1 + (i % 40)).toString('latin1');
    const value = `${randomBytes(i % 7).toString('latin1')}="x\\y"\n`;
    const line = formatLogLine('logfmt', 'error', msg, { field: value }, at);
    assert.equal(line.split('\n').length, 2, 'one line, whatever the message holds');
    const back = parseLogfmt(line);
    assert.equal(back.msg, msg);
    assert.equal(back.field, value);
    assert.equal(back.level, 'error');
  }
});

test('fields cannot overwrite ts, level or msg', () => {
  const back = parseLogfmt(formatLogLine('logfmt', 'info', 'real', { level: 'error', msg: 'fake', ts: 'x' }, at));
  assert.deepEqual(back, { ts: '2026-11-29T10:00:00.000Z', level: 'info', msg: 'real' });
});

test('lines below the level are dropped; with() adds fields to every line', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', fields: { component: 'meshnetd' }, write: (l) => lines.push(l) }).with({ node: 'n1' });
  log.info('quiet');
  log.warn('loud', { peer: '10.0.0.2' });
  assert.equal(lines.length, 1);
  assert.deepEqual(parseLogfmt(lines[0]!), { ts: parseLogfmt(lines[0]!).ts, level: 'warn', msg: 'loud', component: 'meshnetd', node: 'n1', peer: '10.0.0.2' });
});

test('LOG_FORMAT and LOG_LEVEL are read; a bad value is refused naming the variable or flag', () => {
  assert.deepEqual(logSettings({ LOG_FORMAT: 'json', LOG_LEVEL: 'DEBUG' }), { format: 'json', level: 'debug' });
  assert.deepEqual(logSettings({ LOG_FORMAT: 'json' }, { format: 'logfmt' }), { format: 'logfmt', level: 'info' });
  assert.throws(() => logSettings({ LOG_FORMAT: 'text' }), /^LogConfigError: LOG_FORMAT: must be logfmt or json, got "text"$/);
  assert.throws(() => logSettings({}, { level: 'loud' }), /--log-level: must be one of debug, info, warn, error, got "loud"/);
});

test('LogLimiter: one line per key per interval; the next says how many were held back', () => {
  const lines: string[] = [];
  let now = 0;
  const lim = new LogLimiter(memoryLogger(lines), 10_000, () => now);
  for (let i = 0; i < 5; i++) lim.warn('k', `event ${i}`);
  lim.warn('other', 'another kind');
  now = 10_500;
  lim.warn('k', 'event 5');
  assert.deepEqual(lines, ['event 0', 'another kind', 'event 5 (and 4 more like it in the last 11 s)']);
});
