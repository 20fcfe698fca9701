// The targets table of docs/performance.md is written by the bench: a run replaces the rows of
// the targets it measured and keeps the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { updatePerformanceDoc } from '../../bench/perf-doc';
import { target, targetLine, targetWith } from '../../bench/stats';

test('a run replaces its targets\' rows (date and command with them), keeps the others, and leaves the text around alone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perf-doc-'));
  try {
    const file = join(dir, 'performance.md');
    writeFileSync(file, '# Performance\n\nintro\n\n<!-- targets: written by the bench (bench/perf-doc.ts); do not edit by hand -->\n<!-- /targets -->\n\nmore\n');
    updatePerformanceDoc(file, [target('a', 1, 2, 'max', 'x'), target('b', 0.4, 0.5, 'min', 'x')], '2026-12-01', 'npm run bench');
    updatePerformanceDoc(file, [target('b', 0.6, 0.5, 'min', 'x')], '2026-12-07', 'BENCH_ONLY=wire node dist/bench.cjs');
    assert.equal(readFileSync(file, 'utf8'), `# Performance\n\nintro\n\n<!-- targets: written by the bench (bench/perf-doc.ts); do not edit by hand -->
| target | measured | goal | | measured on | with |
|---|---|---|---|---|---|
| a | 1.00x | <= 2.00x | PASS | 2026-12-01 | \`npm run bench\` |
| b | 0.60x | >= 0.50x | PASS | 2026-12-07 | \`BENCH_ONLY=wire node dist/bench.cjs\` |
<!-- /targets -->\n\nmore\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a target of several conditions names the ones that failed after MISS, never "Infinity"', () => {
  const t = targetWith('wires1500', 27.3, 15, 'max', 's', [['1500 of 1500 wires proven', true], ['RSS 151 MB > 128 MB', false]]);
  assert.equal(t.pass, false);
  assert.equal(targetLine(t), 'TARGET wires1500: 27.30s (goal <= 15.00s) MISS (27.30s > 15.00s; RSS 151 MB > 128 MB)');
  assert.equal(targetLine(targetWith('x', 1, 2, 'max', 's', [['a', true]])), 'TARGET x: 1.00s (goal <= 2.00s) PASS');
});
