// Container pods (issue 18): a lab pod that names an image runs it as a container in a sandbox
// made through its node's containerd CRI, as a kubelet makes it, so the CNI chain (primary +
// meshnet) is the runtime's. The image is a busybox one made here and imported with `lab image
// import`, as an air-gapped machine gets its images.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { listNamedNetns } from '../../src/kernel';
import { labDir } from '../../src/lab';
import { processesUnder } from '../../src/runtime/containerd';
import { BUSYBOX_REF, writeBusyboxArchive } from '../helpers/images';
import { R1_TO_R2_AND_R3 } from '../helpers/cri-lab';

const dir = mkdtempSync(join(tmpdir(), 'containers-'));
// The lab's image directory for this run only (meshnetctl reads MESHNET_LAB_IMAGES).
const env = { ...process.env, MESHNET_LAB_IMAGES: join(dir, 'images') };
const ctl = (...args: string[]) => spawnSync(process.execPath, [resolve('dist/meshnetctl'), ...args], { encoding: 'utf8', env, maxBuffer: 16 << 20 });
const archive = join(dir, 'busybox.oci.tar');
const tag = `${process.pid % 10000}${randomBytes(2).toString('hex')}`;

after(() => rmSync(dir, { recursive: true, force: true }));

/** Nothing of lab `name` is left: no namespace, no state directory, no containerd or shim of its nodes. */
function assertNothingLeft(name: string): void {
  assert.deepEqual(listNamedNetns().filter((n) => n.startsWith(`mnl.${name}.`)), [], 'namespaces left');
  assert.ok(!existsSync(labDir(name)), `${labDir(name)} left`);
  assert.deepEqual(processesUnder(labDir(name)), [], 'processes of the lab\'s nodes left (containerd, shims, containers)');
}

/** A lab file (in this run's directory) with two busybox pods on two nodes, one bare pod, and `extra` pod fields for r1. */
function labFile(name: string, r1Extra = ''): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, `
name: ${name}
nodes: [n1, n2]
pods:
  - {name: r1, node: n1, image: "${BUSYBOX_REF}", command: [/bin/sleep, "100000"]${r1Extra}}
  - {name: r2, node: n2, image: "${BUSYBOX_REF}", command: [/bin/sleep, "100000"]}
  - {name: r3, node: n1}
${R1_TO_R2_AND_R3}`);
  return path;
}

before(() => {
  writeBusyboxArchive(archive);
  const r = ctl('lab', 'image', 'import', archive);
  assert.equal(r.status, 0, r.stderr);
});

test('lab image import keeps the archive under the name it carries, and lab image ls lists it', () => {
  const r = ctl('lab', 'image', 'ls', '--output', 'json');
  assert.equal(r.status, 0, r.stderr);
  const { images } = JSON.parse(r.stdout) as { images: Array<{ ref: string; format: string; source: string }> };
  assert.deepEqual(images.map((i) => [i.ref, i.format, i.source]), [[BUSYBOX_REF, 'oci', archive]]);
});

test('lab image import refuses a file that is not an image archive, naming it, and keeps nothing', () => {
  const bogus = join(dir, 'not-an-image.tar');
  writeFileSync(bogus, 'hello');
  const r = ctl('lab', 'image', 'import', bogus);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not-an-image\.tar is not a tar archive/);
  const ls = JSON.parse(ctl('lab', 'image', 'ls', '--output', 'json').stdout) as { images: unknown[] };
  assert.equal(ls.images.length, 1);
});

describe('busybox pods on two nodes (VXLAN between them) beside a bare pod', () => {
  const name = `ct${tag}`;
  const marker = join(dir, 'marker.txt');
  let up: ReturnType<typeof ctl>;
  before(() => {
    writeFileSync(marker, 'written on the host\n');
    up = ctl('lab', 'up', labFile(name, `, binds: ["./marker.txt:/etc/marker:ro"], env: {ROLE: edge},
        exec: ["ip addr add 10.99.0.1/32 dev lo", "cat /etc/marker"]`));
    assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
  });
  after(() => {
    ctl('lab', 'down', name);
  });

  test('each image pod runs its container (state running, its image); the bare pod has none', () => {
    const r = ctl('lab', 'status', name, '--output', 'json');
    assert.equal(r.status, 0, r.stderr);
    const pods = (JSON.parse(r.stdout) as { labs: Array<{ pods: Array<{ name: string; container?: { image: string; state: string } }> }> }).labs[0]!.pods;
    assert.deepEqual(pods.map((p) => [p.name, p.container?.image, p.container?.state]), [['r1', BUSYBOX_REF, 'running'], ['r2', BUSYBOX_REF, 'running'], ['r3', undefined, undefined]]);
  });

  test('every link passes traffic: the VXLAN between the containers and the veth to the bare pod', () => {
    const r = ctl('lab', 'check', name);
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, /2 of 2 links passed traffic/);
  });

  test('lab exec runs in the container: the image\'s filesystem, its own PID namespace, its environment', () => {
    assert.equal(ctl('lab', 'exec', name, 'r1', '--', 'cat', '/etc/image-release').stdout, `busybox test image ${BUSYBOX_REF}\n`);
    assert.equal(ctl('lab', 'exec', name, 'r1', '--', 'cat', '/proc/1/cmdline').stdout, '/bin/sleep\x00100000\x00');
    assert.equal(ctl('lab', 'exec', name, 'r1', '--', 'sh', '-c', 'echo $ROLE').stdout, 'edge\n');
  });

  test('a bind mounts the host file into the container, read-only', () => {
    assert.equal(ctl('lab', 'exec', name, 'r1', '--', 'cat', '/etc/marker').stdout, 'written on the host\n');
    const w = ctl('lab', 'exec', name, 'r1', '--', 'sh', '-c', 'echo x > /etc/marker');
    assert.notEqual(w.status, 0);
    assert.match(w.stderr, /Read-only file system/);
    assert.equal(readFileSync(marker, 'utf8'), 'written on the host\n');
  });

  test('exec: commands ran in the container once its links were up, and lab up printed each with its exit code and output', () => {
    assert.match(up.stdout, /EXEC\n {2}r1: ip addr add 10\.99\.0\.1\/32 dev lo {2}\(exit 0\)\n {2}r1: cat \/etc\/marker {2}\(exit 0\)\n {4}written on the host/);
    assert.match(ctl('lab', 'exec', name, 'r1', '--', 'ip', 'addr', 'show', 'lo').stdout, /inet 10\.99\.0\.1\/32/);
  });
});

test('lab down removes the containers, their sandboxes, the nodes\' containerd and every namespace', () => {
  const name = `cd${tag}`;
  try {
    const up = ctl('lab', 'up', labFile(name), '--no-check');
    assert.equal(up.status, 0, up.stderr);
    assert.ok(processesUnder(labDir(name)).length > 0, 'the lab runs containerd and containers');
    const down = ctl('lab', 'down', name);
    assert.equal(down.status, 0, down.stderr);
    assertNothingLeft(name);
  } finally {
    ctl('lab', 'down', name); // after a failure above: nothing of it outlives the test
  }
});

test('an image that cannot be had: lab up fails naming the image, its pod and node, and how to import it; nothing is left', () => {
  const name = `cb${tag}`;
  const path = labFile(name);
  writeFileSync(path, readFileSync(path, 'utf8').replace(`{name: r2, node: n2, image: "${BUSYBOX_REF}"`, '{name: r2, node: n2, image: "localhost/meshnet-test/absent:1"'));
  const r = ctl('lab', 'up', path);
  if (r.status === 0) ctl('lab', 'down', name);
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /image localhost\/meshnet-test\/absent:1 \(pods r2\) on node n2 cannot be had: .*meshnetctl lab image import FILE/s);
  assertNothingLeft(name);
});

describe('a containerlab file: linux nodes, a bind, exec, both link forms, one node placed on a second lab node', () => {
  const name = `ck${tag}`;
  const file = join(dir, `${name}.clab.yml`);
  const exported = join(dir, `${name}-exported.clab.yml`);
  before(() => {
    writeFileSync(join(dir, 'motd'), 'from the clab directory\n');
    writeFileSync(file, `name: ${name}
mgmt: {network: clab}
topology:
  kinds:
    linux: {image: "${BUSYBOX_REF}"}
  nodes:
    r1:
      kind: linux
      cmd: sleep 100000
      binds: [motd:/etc/motd:ro]
      exec: ["ip addr add 10.9.0.1/24 dev eth1"]
    r2:
      kind: linux
      cmd: sleep 100000
      labels: {meshnet-lab/node: n2}
      exec: ["ip addr add 10.9.0.2/24 dev eth1"]
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - type: veth
      endpoints: [{node: r1, interface: eth2}, {node: r2, interface: eth2}]
`);
    const up = ctl('lab', 'up', file);
    assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
  });
  after(() => {
    ctl('lab', 'down', name);
    ctl('lab', 'down', `${name}x`);
  });

  test('both links pass Ethernet frames, r2 runs on n2, and the addresses exec set carry pings', () => {
    const check = ctl('lab', 'check', name);
    assert.equal(check.status, 0, check.stdout);
    assert.match(check.stdout, /2 of 2 links passed traffic/);
    const pods = (JSON.parse(ctl('lab', 'status', name, '--output', 'json').stdout) as { labs: Array<{ pods: Array<{ name: string; node: string }> }> }).labs[0]!.pods;
    assert.deepEqual(pods.map((p) => [p.name, p.node]), [['r1', 'n1'], ['r2', 'n2']]);
    assert.equal(ctl('lab', 'exec', name, 'r1', '--', 'ping', '-c', '1', '-W', '2', '10.9.0.2').status, 0);
    assert.equal(ctl('lab', 'exec', name, 'r1', '--', 'cat', '/etc/motd').stdout, 'from the clab directory\n');
  });

  test('lab apply of the file with r2\'s command changed re-creates r2\'s container (exec again); its links pass again', () => {
    const id = () => (JSON.parse(ctl('lab', 'status', name, '--output', 'json').stdout) as { labs: Array<{ pods: Array<{ name: string; container: { id: string } }> }> }).labs[0]!.pods.find((p) => p.name === 'r2')!.container.id;
    const before = id();
    const edited = join(dir, `${name}-edited.clab.yml`);
    writeFileSync(edited, readFileSync(file, 'utf8').replace(/(r2:\n {6}kind: linux\n {6}cmd: sleep) 100000/, '$1 200000'));
    const r = ctl('lab', 'apply', edited);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /~ pod default\/r2 re-created: its container changed \(image localhost\/meshnet-test\/busybox:1\)/);
    assert.match(r.stdout, /r2: exec ip addr add 10\.9\.0\.2\/24 dev eth1 \(exit 0\)/);
    assert.notEqual(id(), before);
    assert.equal(ctl('lab', 'exec', name, 'r2', '--', 'cat', '/proc/1/cmdline').stdout, 'sleep\x00200000\x00');
    const check = ctl('lab', 'check', name);
    assert.equal(check.status, 0, check.stdout);
  });

  test('lab export --format clab writes a containerlab file that lab up brings back the same', () => {
    const r = ctl('lab', 'export', name, '--format', 'clab', '-o', exported);
    assert.equal(r.status, 0, r.stderr);
    const again = ctl('lab', 'up', exported, '--name', `${name}x`);
    assert.equal(again.status, 0, `${again.stdout}\n${again.stderr}`);
    const pods = (JSON.parse(ctl('lab', 'status', `${name}x`, '--output', 'json').stdout) as { labs: Array<{ pods: Array<{ name: string; node: string; container: { image: string } }> }> }).labs[0]!.pods;
    assert.deepEqual(pods.map((p) => [p.name, p.node, p.container.image]), [['r1', 'n1', BUSYBOX_REF], ['r2', 'n2', BUSYBOX_REF]]);
    assert.match(again.stdout, /1 +r1:eth1 +r2:eth1 +vxlan .*PASS[\s\S]*2 +r1:eth2 +r2:eth2 +vxlan .*PASS/);
    assert.match(again.stdout, /r2: ip addr add 10\.9\.0\.2\/24 dev eth1 {2}\(exit 0\)/);
  });
});
