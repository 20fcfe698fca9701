// The container image without a container engine: the Dockerfile's build steps (the build, then
// scripts/image-layout.sh) run here, and every path the Dockerfile and the DaemonSet name must
// exist in the result and work from it alone (no repository, no node_modules around it). Also:
// both kustomize overlays build, and the rendered single-file manifests match them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const out = mkdtempSync(join(tmpdir(), 'image-layout-'));
after(() => rmSync(out, { recursive: true, force: true }));

// Parsed manifests are walked by key; a loose type keeps the assertions readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- kustomize output: arbitrary Kubernetes objects, read by field path
type Obj = Record<string, any>;
const docs = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJS() as Obj).filter(Boolean);

function kustomize(overlay: string): Obj[] {
  const r = spawnSync('kubectl', ['kustomize', `deploy/overlays/${overlay}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return docs(r.stdout);
}

/** True when the ELF file has no program interpreter (statically linked). */
function isStatic(path: string): boolean {
  const b = readFileSync(path);
  assert.equal(b.subarray(0, 4).toString('latin1'), '\x7fELF');
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  return true;
}

// The Dockerfile's layout step, run once for the tests below (each reads the result on its own).
const layout = join(out, 'meshnet');
let layoutRun: SpawnSyncReturns<string>;
before(() => {
  layoutRun = spawnSync('bash', ['scripts/image-layout.sh', out], { encoding: 'utf8' });
});

test('the Dockerfile\'s build steps assemble /meshnet: bundles, the statically linked shim, koffi for this platform only', () => {
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  assert.match(dockerfile, /RUN node scripts\/build\.mjs && bash scripts\/image-layout\.sh \/out/);
  assert.match(dockerfile, /COPY --from=build \/out\/meshnet \/meshnet/);
  assert.equal(layoutRun.status, 0, layoutRun.stderr);
  for (const f of ['dist/meshnetd', 'dist/cni/meshnet', 'dist/lib/meshnet-plugin.cjs', 'dist/lib/kube-store.cjs', 'node_modules/koffi/index.js']) {
    assert.ok(existsSync(join(layout, f)), `${f} is in the image`);
  }
  assert.ok(isStatic(join(layout, 'dist/cni/meshnet')), 'the shim runs on any node\'s C library');
  assert.equal(statSync(join(layout, 'dist/cni/meshnet')).mode & 0o111, 0o111);
  const builds = spawnSync('ls', [join(layout, 'node_modules/koffi/build/koffi')], { encoding: 'utf8' }).stdout.trim().split('\n');
  assert.deepEqual(builds, [`${process.platform}_${process.arch}`]);
});

test('the DaemonSet\'s command and the Dockerfile\'s entrypoint run from the image tree alone', () => {
  assert.equal(layoutRun.status, 0, layoutRun.stderr);
  const ds = kustomize('vxlan').find((d) => d.kind === 'DaemonSet')!;
  const command = ds.spec.template.spec.containers[0].command as string[];
  const entrypoint = JSON.parse(/ENTRYPOINT (\[.*\])/.exec(readFileSync('Dockerfile', 'utf8'))![1]!) as string[];
  assert.deepEqual(command, entrypoint, 'the DaemonSet runs what the image runs');
  const entry = entrypoint.at(-1)!;
  // The node flags are the ones the build puts in meshnetd's shebang (what the lab runs it with).
  const shebang = readFileSync('dist/meshnetd', 'utf8').split('\n')[0]!;
  assert.deepEqual(['node', ...entrypoint.slice(1, -1)], shebang.replace(/^#!\/usr\/bin\/env( -S)? /, '').split(' '));
  assert.ok(entry.startsWith('/meshnet/'));
  // From an empty directory with a bare environment: the bundle, koffi and libc load; --help answers.
  const r = spawnSync(process.execPath, [...entrypoint.slice(1, -1), join(out, entry), '--help'], { cwd: out, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /usage: meshnetd/);
  // The installer copies the shim from next to the daemon: dist/cni/meshnet.
  assert.ok(existsSync(join(out, entry, '..', 'cni', 'meshnet')));
});

test('both overlays build; the DaemonSet is meshnet/meshnet with what the daemon and shim need from the host', () => {
  for (const overlay of ['vxlan', 'grpc']) {
    const objs = kustomize(overlay);
    const ds = objs.find((d) => d.kind === 'DaemonSet')!;
    assert.deepEqual([ds.metadata.namespace, ds.metadata.name], ['meshnet', 'meshnet']);
    const pod = ds.spec.template.spec;
    assert.deepEqual([pod.hostNetwork, pod.hostPID, pod.hostIPC, pod.containers[0].securityContext.privileged], [true, true, true, true]);
    const c = pod.containers[0];
    const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    assert.deepEqual([env.HOST_IP, env.NODE_NAME, env.INTER_NODE_LINK_TYPE], ['status.hostIP', 'spec.nodeName', overlay.toUpperCase()]);
    const mounts = Object.fromEntries((c.volumeMounts as Obj[]).map((m) => [m.mountPath, m]));
    for (const p of ['/etc/cni/net.d', '/opt/cni/bin', '/var/run/netns', '/run/meshnet', '/run/containerd']) assert.ok(mounts[p], `${p} is mounted`);
    assert.equal(mounts['/var/run/netns'].mountPropagation, 'Bidirectional');
    const hostPaths = Object.fromEntries((pod.volumes as Obj[]).map((v) => [v.name, v.hostPath?.path]));
    for (const m of c.volumeMounts as Obj[]) assert.equal(hostPaths[m.name], m.mountPath, `${m.mountPath} is the host's own path`);
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.ok(c.resources.requests && c.resources.limits);
    const crd = objs.find((d) => d.kind === 'CustomResourceDefinition' && d.metadata.name === 'topologies.networkop.co.uk')!;
    assert.deepEqual(crd.spec.names.shortNames, ['topo']);
    assert.deepEqual(crd.spec.versions[0].subresources, { status: {} });
    assert.deepEqual(crd.spec.versions[0].additionalPrinterColumns.map((x: Obj) => x.jsonPath), ['.status.src_ip', '.status.plumbing_error', '.metadata.creationTimestamp']);
    const binding = objs.find((d) => d.kind === 'ClusterRoleBinding')!;
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'meshnet', namespace: 'meshnet' }]);
    assert.equal(pod.serviceAccountName, 'meshnet');
  }
});

test('the rendered single-file manifests (for KNE\'s manifest: key) are what the overlays build (npm run manifests)', () => {
  for (const overlay of ['vxlan', 'grpc']) {
    assert.deepEqual(docs(readFileSync(`deploy/manifests/meshnet-${overlay}.yaml`, 'utf8')), kustomize(overlay), `deploy/manifests/meshnet-${overlay}.yaml is stale: run npm run manifests`);
  }
});

test('deploy/monitoring scrapes what meshnetd serves: its Service selects the DaemonSet\'s pods on the port that serves /metrics, and its ServiceMonitor selects that Service and port', () => {
  const r = spawnSync('kubectl', ['kustomize', 'deploy/monitoring'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const objs = docs(r.stdout);
  const svc = objs.find((d) => d.kind === 'Service')!;
  const mon = objs.find((d) => d.kind === 'ServiceMonitor')!;
  const ds = kustomize('vxlan').find((d) => d.kind === 'DaemonSet')!;
  const podLabels = ds.spec.template.metadata.labels as Record<string, string>;
  assert.equal(svc.metadata.namespace, ds.metadata.namespace);
  for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) assert.equal(podLabels[k], v, `the Service selects the meshnet pods (${k})`);
  const container = ds.spec.template.spec.containers[0];
  const port = container.ports.find((p: Obj) => p.name === svc.spec.ports[0].targetPort);
  // meshnetd serves /metrics on its health port (--health-port, 51112 in a pod), where the probes are.
  assert.equal(port?.containerPort, 51112);
  assert.equal(container.readinessProbe.httpGet.port, port.containerPort);
  assert.equal(ds.spec.template.metadata.annotations['prometheus.io/port'], String(port.containerPort));
  for (const [k, v] of Object.entries(mon.spec.selector.matchLabels as Record<string, string>)) assert.equal(svc.metadata.labels[k], v);
  assert.deepEqual(mon.spec.endpoints.map((e: Obj) => [e.port, e.path]), [[svc.spec.ports[0].name, '/metrics']]);
});

test('every program answers --version with the package version and the commit it was built from', () => {
  const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
  for (const bin of ['meshnetd', 'meshnetctl', 'kmesh-installer']) {
    const r = spawnSync(join('dist', bin), ['--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${bin} ${version.replace(/\./g, '\\.')} \\(commit (?:[0-9a-f]{12}|unknown), node v\\d+\\.\\d+\\.\\d+\\)\\n$`));
  }
});
