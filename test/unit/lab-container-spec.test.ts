// The lab file's container pods (issue 18): image, command, args, env, binds, exec, cpu, memory;
// every bad value refused naming its field; the image archive reader; exec's word splitting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabFileError, parseLabFile } from '../../src/lab/labfile';
import { archiveImages, importImageArchive, normalizeRef } from '../../src/lab/images';
import { shellWords } from '../../src/lab/containers';
import { tar } from '../../src/runtime/tar';
import { layerOf, ociArchive } from '../../src/runtime/oci-image';

const dir = mkdtempSync(join(tmpdir(), 'container-spec-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'frr.conf'), 'hostname r1\n');

const lab = (pod: string, extra = '') => parseLabFile(`name: x\nnodes: [n1]\n${extra}pods:\n  - ${pod}\n`, 'x.yaml', { baseDir: dir });

function refused(pod: string, field: string, why: RegExp, extra = ''): void {
  assert.throws(() => lab(pod, extra), (e: unknown) => {
    assert.ok(e instanceof LabFileError, String(e));
    assert.equal(e.field, field);
    assert.match(e.message, why);
    return true;
  });
}

test('a pod with an image carries its container fields, binds resolved against the lab file\'s directory; the lab runs containerd', () => {
  const spec = lab(`{name: r1, image: "localhost/frr:9", command: [/usr/lib/frr/docker-start], args: [-d], env: {A: 1},
      binds: ["frr.conf:/etc/frr/frr.conf:ro", "${dir}:/data"], exec: ["ip link"], cpu: 0.5, memory: 256Mi}`);
  assert.equal(spec.runtime, 'containerd');
  assert.deepEqual(spec.pods[0]!.container, {
    image: 'localhost/frr:9', command: ['/usr/lib/frr/docker-start'], args: ['-d'], env: { A: '1' },
    binds: [{ host: join(dir, 'frr.conf'), container: '/etc/frr/frr.conf', readOnly: true }, { host: dir, container: '/data', readOnly: false }],
    exec: ['ip link'], cpu: 0.5, memory: 256 * 1024 * 1024,
  });
});

test('a pod without an image is a bare pod, and the lab keeps its default runtime', () => {
  const spec = lab('{name: r1}');
  assert.equal(spec.pods[0]!.container, undefined);
  assert.equal(spec.runtime, undefined);
});

test('bad container fields are refused naming the field', () => {
  refused('{name: r1, image: "Not An Image"}', 'pods[0].image', /must be an image reference/);
  refused('{name: r1, image: busybox, command: "sleep 1"}', 'pods[0].command', /must be a list of strings/);
  refused('{name: r1, image: busybox, binds: ["missing.conf:/etc/x"]}', 'pods[0].binds[0]', /missing\.conf does not exist/);
  refused('{name: r1, image: busybox, binds: ["frr.conf:etc/x"]}', 'pods[0].binds[0]', /must be absolute/);
  refused('{name: r1, image: busybox, binds: ["frr.conf:/etc/x:rx"]}', 'pods[0].binds[0]', /HOST:CONTAINER:ro/);
  refused('{name: r1, image: busybox, env: {"1A": x}}', 'pods[0].env.1A', /not an environment variable name/);
  refused('{name: r1, image: busybox, memory: 1Mi}', 'pods[0].memory', /at least 6Mi/);
  refused('{name: r1, image: busybox, cpu: 0}', 'pods[0].cpu', /number of cores/);
  refused('{name: r1, exec: ["ip link"]}', 'pods[0].exec', /give the pod an image/);
  refused('{name: r1, imagee: busybox}', 'pods[0].imagee', /is not a pod key/);
  refused('{name: r1, image: busybox}', 'pods[0].image', /needs runtime: containerd/, 'runtime: netns\n');
});

test('image names are normalized as containerd names them', () => {
  assert.equal(normalizeRef('busybox'), 'docker.io/library/busybox:latest');
  assert.equal(normalizeRef('frrouting/frr:v8.4.0'), 'docker.io/frrouting/frr:v8.4.0');
  assert.equal(normalizeRef('localhost/frr:9'), 'localhost/frr:9');
  assert.equal(normalizeRef('registry.example.com:5000/ceos'), 'registry.example.com:5000/ceos:latest');
});

test('the names an archive carries: docker save\'s RepoTags (gzip-compressed too) and an OCI index\'s annotation', async () => {
  const docker = join(dir, 'ceos.tar.gz');
  writeFileSync(docker, gzipSync(tar([
    { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: ['ceos:4.32.0F'], Layers: [] }])) },
    { name: 'c.json', data: Buffer.from('{}') },
  ])));
  assert.deepEqual(await archiveImages(docker), { format: 'docker', refs: ['docker.io/library/ceos:4.32.0F'] });
  const oci = join(dir, 'bb.tar');
  writeFileSync(oci, ociArchive('localhost/bb:2', [layerOf([{ path: 'x', data: Buffer.from('x') }])], {}));
  assert.deepEqual(await archiveImages(oci), { format: 'oci', refs: ['localhost/bb:2'] });
});

test('exec commands are split into words as a shell splits them, without running a shell', () => {
  assert.deepEqual(shellWords(`vtysh -c 'show ip ospf neighbor' -c "show run"`), ['vtysh', '-c', 'show ip ospf neighbor', '-c', 'show run']);
  assert.deepEqual(shellWords('echo a\\ b "" c'), ['echo', 'a b', '', 'c']);
  assert.throws(() => shellWords(`echo 'open`), /unterminated ' quote/);
});

test('a root filesystem tar needs --name, and a compressed one is refused (its layer would be mislabelled)', async () => {
  const rootfs = join(dir, 'rootfs.tar');
  writeFileSync(rootfs, tar([{ name: 'etc/' }, { name: 'etc/hostname', data: Buffer.from('r1\n') }]));
  await assert.rejects(importImageArchive(rootfs, { dir: join(dir, 'images') }), /is a plain tar .*with --name REF/);
  writeFileSync(`${rootfs}.gz`, gzipSync(readFileSync(rootfs)));
  await assert.rejects(importImageArchive(`${rootfs}.gz`, { name: 'localhost/r:1', dir: join(dir, 'images') }), /compressed root filesystem tar: decompress it first/);
  const [img] = await importImageArchive(rootfs, { name: 'localhost/r:1', dir: join(dir, 'images') });
  assert.deepEqual([img!.ref, img!.format], ['localhost/r:1', 'rootfs']);
  assert.deepEqual(await archiveImages(img!.file), { format: 'oci', refs: ['localhost/r:1'] });
});
