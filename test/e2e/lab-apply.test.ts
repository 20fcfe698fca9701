// `meshnetctl lab apply FILE` on a running lab (docs/lab.md's example, examples/apply-*.yaml): an
// edited lab file adds a node, a pod and a link, removes a pod with its links, moves a pod to
// another node and changes an address; the command prints each change, and every link of the
// result passes traffic without the untouched pods being restarted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { listNamedNetns } from '../../src/kernel';
import { labDaemonPids, labPrefix, loadState } from '../../src/lab';

const dir = mkdtempSync(join(tmpdir(), 'labapply-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ctl = (...args: string[]) => spawnSync(process.execPath, ['dist/meshnetctl', ...args], { encoding: 'utf8' });

// docs/lab.md's example files, under a name unique to this run.
const example = (file: string) => (name: string) => readFileSync(join('examples', file), 'utf8').replace(/^name: applied$/m, `name: ${name}`);
const beforeFile = example('apply-before.yaml');
const edited = example('apply-after.yaml');

// One lab, one apply, then one behaviour per test.
const name = `a${process.pid % 10000}${randomBytes(2).toString('hex')}`;
const f2 = join(dir, 'edited.yaml');
let applied: ReturnType<typeof ctl>;
let r1SandboxBefore: string | undefined;

before(() => {
  const f1 = join(dir, 'before.yaml');
  writeFileSync(f1, beforeFile(name));
  writeFileSync(f2, edited(name));
  const up = ctl('lab', 'up', f1);
  assert.equal(up.status, 0, up.stdout + up.stderr);
  r1SandboxBefore = loadState(name)!.pods.find((p) => p.name === 'r1')!.containerId;
  applied = ctl('lab', 'apply', f2);
  assert.equal(applied.status, 0, applied.stdout + applied.stderr);
});

after(() => {
  ctl('lab', 'down', name);
});

const printed = (want: RegExp) => assert.ok(applied.stdout.split('\n').some((l) => want.test(l)), `${want} in:\n${applied.stdout}`);

test('lab apply prints an added node and an added pod', () => {
  printed(/^\+ node n3 \(192\.0\.2\.13\)$/);
  printed(/^\+ pod default\/r4 on node n3$/);
});

test('lab apply prints a removed pod and a moved pod', () => {
  printed(/^- pod default\/r3$/);
  printed(/^> pod default\/r2 moved to node n2$/);
});

test('lab apply prints each Topology\'s changed addresses, added and removed links', () => {
  printed(/^~ Topology default\/r1: ~uid 1 \(local_ip 10\.1\.0\.1\/24 -> 10\.9\.0\.1\/24, peer_ip 10\.1\.0\.2\/24 -> 10\.9\.0\.2\/24\), \+uid 4 \(eth4 to r4:eth1\), -uid 2 \(eth2\)$/);
  printed(/^~ Topology default\/r2: ~uid 1 \(local_ip 10\.1\.0\.2\/24 -> 10\.9\.0\.2\/24, peer_ip 10\.1\.0\.1\/24 -> 10\.9\.0\.1\/24\)$/);
});

test('after lab apply every link of the edited file passes traffic', () => {
  assert.match(applied.stdout, /2 of 2 links passed traffic/);
  assert.match(applied.stdout, /1 +r1:eth1 +r2:eth1 +vxlan +1450 +10\.9\.0\.1\/24 <-> 10\.9\.0\.2\/24 +up +PASS/);
  assert.match(applied.stdout, /4 +r1:eth4 +r4:eth1 +vxlan +1450 +10\.4\.0\.1\/24 <-> 10\.4\.0\.4\/24 +up +PASS/);
});

test('a pod the edit does not move or remove keeps its sandbox (not restarted)', () => {
  assert.equal(loadState(name)!.pods.find((p) => p.name === 'r1')!.containerId, r1SandboxBefore);
});

test('applying the same file again changes nothing', () => {
  const again = ctl('lab', 'apply', f2, '--no-check');
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /already matches .*: nothing to change/);
});

test('lab down after an apply leaves no netns and no daemon behind', () => {
  // Its own lab: the one above stays up for the other tests, whatever order they run in.
  const own = `${name}d`;
  const [f1, f3] = [join(dir, 'down-before.yaml'), join(dir, 'down-edited.yaml')];
  writeFileSync(f1, beforeFile(own));
  writeFileSync(f3, edited(own));
  try {
    for (const args of [['up', f1, '--no-check'], ['apply', f3, '--no-check']]) {
      const r = ctl('lab', ...args);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    }
    const down = ctl('lab', 'down', own);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual([...listNamedNetns().filter((n) => n.startsWith(labPrefix(own))), ...labDaemonPids(own).map(String)], []);
  } finally {
    ctl('lab', 'down', own);
  }
});
