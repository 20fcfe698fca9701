// The container image, built and run with a real engine: the unchanged Dockerfile built by
// Debian's podman (runc, and the rlimits root may set here) over local STAND-INS of node:20-bookworm
// and node:20-bookworm-slim (scripts/image-standins.sh: Debian bookworm from mmdebstrap plus this
// machine's Node 20 — no registry is reachable here, so not the official images), then run as the
// DaemonSet runs it: privileged, a node's network namespace as its host network, the DaemonSet's
// environment and mounts, a service-account token and CA for the API-server double. It must
// install the shim and chain meshnet, answer its probes, report its commit, and on SIGTERM (a
// rollout) exit promptly and leave meshnet chained.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createNamedNetns, deleteNamedNetns, listNamedNetns, NetNs, Rtnl } from '../../src/kernel';
import { startApiProxy, type ApiProxy } from '../../src/lab/api-proxy';
import { meshnetRules, seedMeshnetDaemonSet, startKube, type TestKube } from '../helpers/kube';
import { until } from '../helpers/wait';

/** podman's own storage for these tests (the stand-ins are cached there between runs). */
const STORE = '/var/tmp/meshnet-ts-podman';
const PODMAN = ['--root', join(STORE, 'root'), '--runroot', join(STORE, 'run'), '--storage-driver', 'overlay', '--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];
/** crun fails on this machine's cgroups; runc needs rlimits root may set here. */
const ULIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768'];
const run = `im${process.pid % 10000}${randomBytes(2).toString('hex')}`;
const IMAGE = `localhost/meshnet-ts:${run}`;
const NODE = `${run}-node`;
const HOST_IP = '192.0.2.91';
const commit = (await exec('git', ['rev-parse', 'HEAD'])).out.trim();

let kube: TestKube;
let proxy: ApiProxy | undefined;
let base: string;
let built: { status: number | null; out: string } | undefined;

function exec(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<{ status: number | null; out: string }> {
  return new Promise((res, rej) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let out = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    c.on('error', rej);
    c.on('close', (status) => res({ status, out }));
  });
}

const podman = (...args: string[]) => exec('podman', [...PODMAN, ...args]);

/** GET on the health port from inside the node's netns, where the DaemonSet's probes reach it. */
async function probe(path: string): Promise<{ status: number; body: string }> {
  const script = `require('http').get({ host: '127.0.0.1', port: 51112, path: ${JSON.stringify(path)}, timeout: 3000 }, (r) => { let b = ''; r.on('data', (d) => { b += d; }); r.on('end', () => console.log(JSON.stringify({ status: r.statusCode, body: b }))); }).on('error', (e) => console.log(JSON.stringify({ status: 0, body: e.message })));`;
  const r = await exec('nsenter', [`--net=/var/run/netns/${NODE}`, '--', process.execPath, '-e', script]);
  return JSON.parse(r.out) as { status: number; body: string };
}

before(async () => {
  mkdirSync(STORE, { recursive: true });
  const s = await exec('bash', ['scripts/image-standins.sh', ...PODMAN]);
  assert.equal(s.status, 0, s.out);
  built = await podman('build', '--network', 'host', '--pull=never', ...ULIMITS, '--build-arg', `MESHNET_COMMIT=${commit}`, '-t', IMAGE, '.');
  kube = await startKube();
  kube.double.addUser({ token: 'meshnet-sa-token', name: 'system:serviceaccount:meshnet:meshnet', rules: meshnetRules() });
  seedMeshnetDaemonSet(kube, `meshnet-${run}`, NODE);
  base = mkdtempSync(join(tmpdir(), `${run}-`));
  for (const d of ['net.d', 'bin', 'serviceaccount']) mkdirSync(join(base, d));
  writeFileSync(join(base, 'serviceaccount', 'token'), 'meshnet-sa-token');
  writeFileSync(join(base, 'serviceaccount', 'ca.crt'), kube.double.caPem!);
  writeFileSync(join(base, 'serviceaccount', 'namespace'), 'meshnet');
  writeFileSync(join(base, 'net.d', '10-bridge.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'primary', plugins: [{ type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local', ranges: [[{ subnet: '10.251.0.0/24' }]] } }] }));
  // The node: a netns with its address, the API server reachable on its loopback as in a cluster.
  createNamedNetns(NODE);
  const ns = NetNs.open(`/var/run/netns/${NODE}`);
  const rt = Rtnl.open(ns);
  try {
    rt.setUp('lo');
    rt.addAddr('lo', `${HOST_IP}/32`);
  } finally {
    rt.close();
    ns.close();
  }
  proxy = await startApiProxy({ ip: '127.0.0.1', port: kube.double.port }, [`/var/run/netns/${NODE}`]);
});

after(async () => {
  await podman('rm', '--force', '--time', '0', run);
  await podman('rmi', '--force', IMAGE);
  await podman('image', 'prune', '--force'); // the build stage's layers; the stand-ins stay cached
  await proxy?.close();
  await kube?.stop();
  if (listNamedNetns().includes(NODE)) deleteNamedNetns(NODE);
  if (base) rmSync(base, { recursive: true, force: true });
});

test('the unchanged Dockerfile builds with podman over the local stand-ins of the node:20 images', () => {
  assert.equal(built?.status, 0, built?.out);
  assert.match(readFileSync('Dockerfile', 'utf8'), /^FROM node:20-bookworm AS build$/m);
});

test('the runtime image holds meshnetd, the shim and the plugins, and not the lab\'s tools (bench.cjs, meshnetctl)', async () => {
  const r = await podman('run', '--rm', '--pull=never', ...ULIMITS, '--entrypoint', 'ls', IMAGE, '/meshnet/dist', '/meshnet/dist/cni');
  assert.equal(r.status, 0, r.out);
  assert.deepEqual(r.out.split(/\s+/).filter((x) => x && !x.endsWith(':')).sort(), ['cni', 'kmesh-cni', 'kmesh-installer', 'lib', 'meshnet', 'meshnetd', 'package.json', 'router', 'veth'].sort());
});

test('--version in the image names the commit it was built from (the build argument)', async () => {
  const r = await podman('run', '--rm', '--pull=never', ...ULIMITS, IMAGE, '--version');
  assert.equal(r.out.trim(), `meshnetd 0.1.0 (commit ${commit.slice(0, 12)}, node ${process.version})`);
});

test('run as the DaemonSet runs it: it installs the shim, chains meshnet into the node\'s CNI config, answers /healthz and /readyz, and reports its commit in meshnetd_build_info', async () => {
  const r = await podman('run', '--detach', '--name', run, '--pull=never', ...ULIMITS,
    '--privileged', '--network', `ns:/var/run/netns/${NODE}`, '--pid', 'host', '--ipc', 'host',
    '--env', 'KUBERNETES_SERVICE_HOST=127.0.0.1', '--env', `KUBERNETES_SERVICE_PORT=${kube.double.port}`,
    '--env', `HOST_IP=${HOST_IP}`, '--env', `NODE_NAME=${NODE}`, '--env', `POD_NAME=meshnet-${run}`, '--env', 'POD_NAMESPACE=meshnet',
    '--env', 'INTER_NODE_LINK_TYPE=VXLAN',
    '--volume', `${join(base, 'net.d')}:/etc/cni/net.d`, '--volume', `${join(base, 'bin')}:/opt/cni/bin`,
    '--volume', '/var/run/netns:/var/run/netns:rshared', '--volume', '/run/meshnet:/run/meshnet',
    '--volume', `${join(base, 'serviceaccount')}:/var/run/secrets/kubernetes.io/serviceaccount:ro`,
    IMAGE);
  assert.equal(r.status, 0, r.out);
  const logs = async () => (await podman('logs', run)).out;
  await until('/readyz 200', async () => (await probe('/readyz')).status === 200, 30_000, () => '(see the container log)');
  assert.equal((await probe('/healthz')).status, 200);
  assert.ok(existsSync(join(base, 'bin', 'meshnet')), 'the shim is installed');
  assert.deepEqual(readdirSync(join(base, 'net.d')).filter((f) => !f.startsWith('.')).sort(), ['00-meshnet.conflist', '10-bridge.conflist', 'meshnet-inter-node-link-type']);
  assert.match((await probe('/metrics')).body, new RegExp(`meshnetd_build_info\\{[^}]*commit="${commit.slice(0, 12)}"`));
  assert.match(await logs(), /owned by DaemonSet meshnet\/meshnet/);
});

test('SIGTERM, as the kubelet stops it in a rollout: it exits with 0 and meshnet stays chained in the node\'s CNI config', async () => {
  const r = await podman('stop', '--time', '30', run);
  assert.equal(r.status, 0, r.out);
  const st = await podman('inspect', '--format', '{{.State.ExitCode}}', run);
  assert.equal(st.out.trim(), '0');
  assert.ok(readdirSync(join(base, 'net.d')).includes('00-meshnet.conflist'));
  assert.match((await podman('logs', run)).out, /meshnet stays chained in \/etc\/cni\/net\.d \(DaemonSet meshnet\/meshnet stays/);
});
