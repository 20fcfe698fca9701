// Runs the whole suite: type check, lint, then every test file under test/ with node:test.
// Node 20's `--test DIR` finds no .ts files and exits 0, so the file list is explicit, and the
// run fails when zero tests executed (a suite that silently runs nothing is a defect).
// `--unit` (npm run test:unit) runs test/unit alone: no root, no kernel objects, seconds; no type
// check or lint; files in parallel (they share no kernel objects). After the run each file's time is printed, slowest first (scripts/file-times.mjs).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { availableParallelism, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

const unit = process.argv[2] === '--unit';
const args = process.argv.slice(unit ? 3 : 2);

function checkSources() {
  const tsc = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  if (tsc.status !== 0) { console.error('type check failed'); process.exit(1); }
  const lint = spawnSync('npx', ['eslint', '.'], { stdio: 'inherit' });
  if (lint.status !== 0) { console.error('lint failed (eslint.config.mjs)'); process.exit(1); }
}
if (!unit) checkSources();

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
// Optional filter: `npm test -- cni` runs only files whose path contains "cni".
const filter = args[0];
const files = collect(unit ? 'test/unit' : 'test').filter((f) => !filter || f.includes(filter));
if (files.length === 0) { console.error('no test files found'); process.exit(1); }

const tmp = mkdtempSync(join(tmpdir(), 'meshnet-test-'));
const tap = join(tmp, 'report.tap');
const times = join(tmp, 'file-times.txt');
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS; // kubelet does not set it; it slows every plugin exec by ~55 ms
const run = spawnSync(process.execPath, [
  '--import', 'tsx', '--test', `--test-concurrency=${unit ? availableParallelism() : 1}`,
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tap}`,
  `--test-reporter=${join(root, 'scripts', 'file-times.mjs')}`, `--test-reporter-destination=${times}`,
  ...files,
], { stdio: 'inherit', env });

const report = readFileSync(tap, 'utf8');
console.log('\ntime per test file (top-level tests), slowest first:');
process.stdout.write(readFileSync(times, 'utf8'));
rmSync(tmp, { recursive: true, force: true });
const count = (k) => Number((report.match(new RegExp(`^# ${k} (\\d+)$`, 'm')) ?? [])[1] ?? 0);
const tests = count('tests'), pass = count('pass'), fail = count('fail');
console.log(`${pass} passed, ${fail} failed, ${count('skipped')} skipped`);
if (tests === 0) { console.error('zero tests ran: failing the run'); process.exit(1); }
process.exit(run.status === 0 && fail === 0 ? 0 : 1);
