// meshnetd as the DaemonSet runs it: in a node's netns with the DaemonSet's environment
// (KUBERNETES_SERVICE_HOST/PORT, a mounted service-account token bound to the meshnet ClusterRole,
// HOST_IP, NODE_NAME, INTER_NODE_LINK_TYPE) and no flags about the store or the installer. It
// must pick the Kubernetes store, install the shim and chain meshnet into the node's CNI config,
// answer probes, serve the runtime's calls of the installed chain with upstream's bare entry,
// answer Local.Get with HOST_IP; on SIGTERM keep meshnet chained while its DaemonSet stays (a
// rollout) and remove it once the DaemonSet is deleted (an uninstall).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { addNetworkList, delNetworkList, parseConfList, type Invocation } from '../../src/cni';
import { NetNs, Rtnl, createNamedNetns, deleteNamedNetns, listNamedNetns } from '../../src/kernel';
import { cniSocketPath } from '../../src/daemon/cni-socket';
import { startApiProxy, type ApiProxy } from '../../src/lab/api-proxy';
import { KubeStore } from '../../src/store/kube/kube-store';
import { TopologyClient } from '../../src/topology';
import { meshnetRules, seedMeshnetDaemonSet, startKube, type TestKube } from '../helpers/kube';
import { until as waitUntil } from '../helpers/wait';

const run = `mc${process.pid % 10000}${randomBytes(2).toString('hex')}`;
const node = `${run}-node`;
const HOST_IP = '192.0.2.77';
let kube: TestKube;
let proxy: ApiProxy;
let daemon: ChildProcess;
let daemonLog = '';
let base: string;
let confDir: string;
let binDir: string;
const PRIMARY = '10-bridge.conflist';
let primaryText: string;

function runAsync(cmd: string, args: string[], env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    c.on('error', reject);
    c.on('close', () => resolveRun({ stdout, stderr }));
  });
}

function admin(path: string, socketPath = cniSocketPath('meshnetd-admin', `/var/run/netns/${node}`)): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const req = httpGet({ socketPath, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}


/** Waits for the daemon, its log in the error if it never comes. */
const until = <T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000) => waitUntil(what, f, ms, () => daemonLog);

before(async () => {
  kube = await startKube();
  kube.double.addUser({ token: 'meshnet-sa-token', name: 'system:serviceaccount:meshnet:meshnet', rules: meshnetRules() });
  base = mkdtempSync(join(tmpdir(), `${run}-`));
  confDir = join(base, 'net.d');
  binDir = join(base, 'bin');
  const sa = join(base, 'serviceaccount');
  for (const d of [confDir, binDir, sa]) mkdirSync(d, { recursive: true });
  writeFileSync(join(sa, 'token'), 'meshnet-sa-token');
  writeFileSync(join(sa, 'ca.crt'), kube.double.caPem!);
  writeFileSync(join(sa, 'namespace'), 'meshnet');
  // The node's primary CNI: Debian's bridge + host-local, as a cluster's CNI writes its file.
  primaryText = JSON.stringify({ cniVersion: '1.0.0', name: 'primary', plugins: [{ type: 'bridge', bridge: 'cni0', isGateway: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.250.0.0/24' }]], dataDir: join(base, 'ipam') } }] });
  createNamedNetns(node);
  // The DaemonSet and its pod this daemon is, as the API server has them.
  seedMeshnetDaemonSet(kube, 'meshnet-x1', 'kind-worker');
  proxy = await startApiProxy({ ip: '127.0.0.1', port: kube.double.port }, [`/var/run/netns/${node}`]);
  await startNodeDaemon();
});

/** The DaemonSet's command and environment, with only the host paths moved to temp directories. */
async function startNodeDaemon(): Promise<void> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '', KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(kube.double.port),
    MESHNET_SERVICEACCOUNT_DIR: join(base, 'serviceaccount'), HOST_IP, NODE_NAME: 'kind-worker', INTER_NODE_LINK_TYPE: 'GRPC', POD_NAME: 'meshnet-x1', POD_NAMESPACE: 'meshnet',
  };
  rmSync(cniSocketPath('meshnet', `/var/run/netns/${node}`), { force: true });
  daemonLog = '';
  daemon = spawn('nsenter', [`--net=/var/run/netns/${node}`, '--', process.execPath, resolve('dist/meshnetd'),
    '--cni-conf-dir', confDir, '--cni-bin-dir', binDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stderr!.on('data', (d: Buffer) => { daemonLog += d.toString(); });
  // Answering, not just present: a socket file of an earlier daemon (same netns inode) may linger.
  await until('the admin socket', async () => (await admin('/healthz')).status === 200);
}

after(async () => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  await proxy?.close();
  await kube?.stop();
  for (const ns of listNamedNetns().filter((n) => n.startsWith(run))) deleteNamedNetns(ns);
  rmSync(base, { recursive: true, force: true });
});

test('without a primary CNI config the daemon is not ready, and /readyz says why', async () => {
  const r = await admin('/readyz');
  assert.equal(r.status, 503);
  assert.match(r.body, /cni config: meshnet is not chained in .*net\.d yet \(no primary CNI config\?\)/);
  assert.equal((await admin('/healthz')).status, 200, 'but it is alive');
});

test('in a pod it uses the API server with the mounted service-account token (the meshnet ClusterRole suffices) and gets ready once a primary CNI config exists', async () => {
  writeFileSync(join(confDir, PRIMARY), primaryText);
  await until('ready', async () => (await admin('/readyz')).status === 200);
  const mine = kube.double.requests.filter((r) => r.user === 'system:serviceaccount:meshnet:meshnet');
  assert.ok(mine.length > 0 && mine.every((r) => r.status < 400 || r.status === 404), JSON.stringify(mine.filter((r) => r.status >= 400 && r.status !== 404)));
  assert.match(daemonLog, /store kubernetes/);
});

test('it installs the shim and a derived 00-meshnet.conflist (primary + upstream\'s entry, cniVersion kept) and the link-type file', () => {
  assert.deepEqual(readFileSync(join(binDir, 'meshnet')), readFileSync(resolve('dist/cni/meshnet')));
  const d = JSON.parse(readFileSync(join(confDir, '00-meshnet.conflist'), 'utf8')) as { cniVersion: string; plugins: Record<string, unknown>[] };
  assert.equal(d.cniVersion, '1.0.0');
  assert.deepEqual(d.plugins.map((p) => p.type), ['bridge', 'meshnet']);
  assert.deepEqual(d.plugins[1], { type: 'meshnet', name: 'meshnet' });
  assert.equal(readFileSync(join(confDir, 'meshnet-inter-node-link-type'), 'utf8'), 'GRPC');
});

test('the runtime runs the installed chain (bridge, then the installed meshnet shim with the bare entry): the pod gets eth0 and its links from the Kubernetes store', async () => {
  const pod = `${run}-p1`;
  createNamedNetns(pod);
  const topologies = new TopologyClient(new KubeStore(kube.storeRef));
  await topologies.create({ apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: 'p1', namespace: 'default' },
    spec: { links: [{ uid: 1, peer_pod: 'p1', local_intf: 'e1', peer_intf: 'e2', local_ip: '10.9.0.1/30', peer_ip: '10.9.0.2/30' }] } });
  const list = parseConfList(readFileSync(join(confDir, '00-meshnet.conflist'), 'utf8'));
  const inv: Invocation = {
    containerId: 'c0ffee', netns: `/var/run/netns/${pod}`, ifname: 'eth0',
    args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'p1', K8S_POD_INFRA_CONTAINER_ID: 'c0ffee' },
    path: [binDir, '/usr/lib/cni'], wrapper: ['nsenter', `--net=/var/run/netns/${node}`, '--'], timeoutMs: 30_000,
  };
  const result = await addNetworkList(list, inv);
  assert.match(result.ips[0]?.address ?? '', /^10\.250\.0\.\d+\/24$/);
  const ns = NetNs.open(pod);
  const r = Rtnl.open(ns);
  try {
    assert.deepEqual(r.links().map((l) => l.name).filter((n) => n !== 'lo').sort(), ['e1', 'e2', 'eth0']);
  } finally {
    r.close();
    ns.close();
  }
  assert.equal((await topologies.get('default', 'p1'))?.status?.src_ip, HOST_IP, 'HOST_IP recorded as the node');
  assert.match(daemonLog, /level=info msg="cni call" component=meshnetd node=\S+ command=ADD container=c0ffee .*exit=0/);
  await delNetworkList(list, inv, result);
  assert.deepEqual((await topologies.get('default', 'p1'))?.status ?? {}, {});
  deleteNamedNetns(pod);
});

test('an ADD while the API server fails the status write (500): the runtime gets a CNI error naming the server, nothing of meshnet is made, and the retried ADD plumbs the links', async () => {
  const pod = `${run}-p2`;
  createNamedNetns(pod);
  const topologies = new TopologyClient(new KubeStore(kube.storeRef));
  await topologies.create({ apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: 'p2', namespace: 'default' },
    spec: { links: [{ uid: 1, peer_pod: 'p2', local_intf: 'e1', peer_intf: 'e2', local_ip: '10.9.1.1/30', peer_ip: '10.9.1.2/30' }] } });
  const list = parseConfList(readFileSync(join(confDir, '00-meshnet.conflist'), 'utf8'));
  const inv: Invocation = {
    containerId: 'c0ffee2', netns: `/var/run/netns/${pod}`, ifname: 'eth0',
    args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'p2', K8S_POD_INFRA_CONTAINER_ID: 'c0ffee2' },
    path: [binDir, '/usr/lib/cni'], wrapper: ['nsenter', `--net=/var/run/netns/${node}`, '--'], timeoutMs: 30_000,
  };
  const links = () => {
    const ns = NetNs.open(pod);
    const r = Rtnl.open(ns);
    try {
      return r.links().map((l) => l.name).filter((n) => n !== 'lo' && n !== 'eth0').sort();
    } finally {
      r.close();
      ns.close();
    }
  };
  const remove = kube.double.injectFault({ method: 'PATCH', path: /\/namespaces\/default\/topologies\/p2\/status$/, status: 500, times: 1 });
  try {
    await assert.rejects(addNetworkList(list, inv), (e: Error) => /Kubernetes API https:\/\/127\.0\.0\.1:\d+: 500 .*topologies default\/p2.*injected fault 500/.test(e.message));
  } finally {
    remove();
  }
  assert.deepEqual(links(), [], 'no meshnet link was made');
  assert.equal((await topologies.get('default', 'p2'))?.status?.net_ns, undefined, 'the pod is not marked alive');
  await delNetworkList(list, inv); // as a runtime does after a failed ADD
  const result = await addNetworkList(list, inv);
  assert.deepEqual(links(), ['e1', 'e2']);
  await delNetworkList(list, inv, result);
  deleteNamedNetns(pod);
  await topologies.delete('default', 'p2');
});

test('Prometheus scrapes the health port (as the DaemonSet exposes it): build info, the CNI call latency histogram counted the ADDs and DELs by result, process metrics, counters in _total, no netns label', async () => {
  // Scraped from inside the node's netns, as Prometheus reaches a hostNetwork pod on the node IP.
  const r = await runAsync('nsenter', [`--net=/var/run/netns/${node}`, '--', 'curl', '-sS', '-i', 'http://127.0.0.1:51112/metrics'], { PATH: process.env.PATH ?? '' });
  assert.match(r.stdout, /^HTTP\/1\.1 200 OK\r\n/, r.stderr);
  assert.match(r.stdout, /\r\ncontent-type: text\/plain; version=0\.0\.4/i);
  const body = r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4);
  assert.match(body, /^meshnetd_build_info\{node="kind-worker",version="[^"]+",commit="[^"]+",nodejs_version="v\d+[^"]*"\} 1$/m);
  // The tests above made two ADDs that succeeded, one that failed (the 500), and three DELs.
  assert.match(body, /^meshnetd_cni_request_duration_seconds_count\{node="kind-worker",command="ADD",result="ok"\} 2$/m);
  assert.match(body, /^meshnetd_cni_request_duration_seconds_count\{node="kind-worker",command="ADD",result="error"\} 1$/m);
  assert.match(body, /^meshnetd_cni_request_duration_seconds_count\{node="kind-worker",command="DEL",result="ok"\} 3$/m);
  assert.match(body, /^meshnetd_cni_request_duration_seconds_bucket\{node="kind-worker",command="ADD",result="ok",le="\+Inf"\} 2$/m);
  assert.match(body, /^process_resident_memory_bytes\{node="kind-worker"\} \d+$/m);
  const types = [...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const);
  assert.deepEqual(types.filter(([n, t]) => t === 'counter' && !n.endsWith('_total')), [], 'counters end in _total');
  assert.deepEqual(types.filter(([n]) => !body.includes(`# HELP ${n} `)), [], 'every family has help text');
  assert.doesNotMatch(body, /netns|container/, 'no label of unbounded cardinality');
});

test('every line meshnetd logged is logfmt with a time, a level, a message, its component and node', () => {
  const lines = daemonLog.trim().split('\n');
  assert.ok(lines.length > 3);
  for (const l of lines) assert.match(l, /^ts=\d{4}-\d\d-\d\dT\S+Z level=(debug|info|warn|error) msg=(\S+|"(?:[^"\\]|\\.)*") component=\S+ node=kind-worker( |$)/, l);
});

test("Local.Get answers this node's HOST_IP as node_ip, as upstream's daemon does", async () => {
  // A grpc-js client inside the node netns (asynchronously: the API server double lives in this process).
  const r = await runAsync('nsenter', [`--net=/var/run/netns/${node}`, '--', process.execPath, '--import', 'tsx', '-e', `
    import('${resolve('node_modules/@grpc/grpc-js/build/src/index.js')}').then(async (grpc) => {
      const loader = await import('${resolve('node_modules/@grpc/proto-loader/build/src/index.js')}');
      const def = loader.loadSync('${resolve('proto/meshnet/v1beta1/meshnet.proto')}', { keepCase: true, longs: String });
      const Local = grpc.loadPackageDefinition(def).meshnet.v1beta1.Local;
      const c = new Local('127.0.0.1:51111', grpc.credentials.createInsecure());
      c.Get({ name: 'p1', kube_ns: 'default' }, (e, pod) => { console.log(e ? 'ERR ' + e.message : pod.node_ip); c.close(); });
    });`], { PATH: process.env.PATH ?? '' });
  assert.equal(r.stdout.trim(), HOST_IP, r.stderr);
});

test('an API server not reachable when meshnetd starts: it runs, /readyz names the store and the unread wire records, and it gets ready once the API answers', async () => {
  const node2 = `${run}-n2`;
  createNamedNetns(node2);
  const ns2 = NetNs.open(node2);
  const rt2 = Rtnl.open(ns2);
  rt2.setUp('lo'); // as on a node: the API server's address answers, with a refusal
  rt2.close();
  ns2.close();
  const conf2 = join(base, 'net.d-2');
  mkdirSync(conf2);
  writeFileSync(join(conf2, PRIMARY), primaryText);
  const sock = cniSocketPath('meshnetd-admin', `/var/run/netns/${node2}`);
  rmSync(sock, { force: true });
  rmSync(cniSocketPath('meshnet', `/var/run/netns/${node2}`), { force: true });
  let log2 = '';
  const d2 = spawn('nsenter', [`--net=/var/run/netns/${node2}`, '--', process.execPath, resolve('dist/meshnetd'), '--cni-conf-dir', conf2, '--cni-bin-dir', join(base, 'bin-2')], {
    env: { PATH: process.env.PATH ?? '', KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(kube.double.port),
      MESHNET_SERVICEACCOUNT_DIR: join(base, 'serviceaccount'), HOST_IP: '192.0.2.78', NODE_NAME: 'kind-worker2' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  d2.stderr!.on('data', (d: Buffer) => { log2 += d.toString(); });
  let proxy2: ApiProxy | undefined;
  try {
    await until('the second daemon', async () => d2.exitCode === null && (await admin('/healthz', sock)).status === 200);
    const r = await admin('/readyz', sock);
    assert.equal(r.status, 503);
    assert.match(r.body, /store: Kubernetes API https:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    assert.match(r.body, /wires: the GWireKObj wire records of this node have not been read yet/);
    // The API server becomes reachable from this node: the daemon gets there by itself.
    proxy2 = await startApiProxy({ ip: '127.0.0.1', port: kube.double.port }, [`/var/run/netns/${node2}`]);
    await until('ready', async () => (await admin('/readyz', sock)).status === 200, 15_000);
    assert.match(log2, /wires: first start/);
  } finally {
    d2.kill('SIGTERM');
    await until('exit', () => d2.exitCode !== null || d2.signalCode !== null);
    await proxy2?.close();
    deleteNamedNetns(node2);
  }
});

test('SIGTERM while its DaemonSet stays (a rollout): meshnet stays chained (conflist and link-type file kept), the primary is byte-identical', async () => {
  await until('the daemon to know its DaemonSet', () => /owned by DaemonSet meshnet\/meshnet/.test(daemonLog));
  daemon.kill('SIGTERM');
  await until('exit', () => daemon.exitCode !== null);
  assert.equal(daemon.exitCode, 0, daemonLog);
  assert.deepEqual(readdirSync(confDir).sort(), ['.meshnet-cni-state', '00-meshnet.conflist', '10-bridge.conflist', 'meshnet-inter-node-link-type']);
  assert.equal(readFileSync(join(confDir, PRIMARY), 'utf8'), primaryText);
  assert.match(daemonLog, /meshnet stays chained in .* \(DaemonSet meshnet\/meshnet stays \(a rollout or a restart\)\)/);
});

test('SIGTERM once its DaemonSet is deleted (kubectl delete of meshnet): the derived conflist and the link-type file are removed, the primary is byte-identical', async () => {
  await startNodeDaemon();
  await until('the daemon to know its DaemonSet', () => /owned by DaemonSet meshnet\/meshnet/.test(daemonLog));
  // kubectl, as a user uninstalls (run asynchronously: the API server double is in this process).
  const r = await runAsync('kubectl', ['--kubeconfig', kube.kubeconfig, '--cache-dir', join(kube.dir, 'kubectl-cache'), '-n', 'meshnet', 'delete', 'daemonset', 'meshnet', '--wait=false'], { PATH: process.env.PATH ?? '' });
  assert.match(r.stdout, /daemonset.apps "meshnet" deleted/, r.stderr);
  daemon.kill('SIGTERM');
  await until('exit', () => daemon.exitCode !== null);
  assert.equal(daemon.exitCode, 0, daemonLog);
  assert.deepEqual(readdirSync(confDir), [PRIMARY]);
  assert.equal(readFileSync(join(confDir, PRIMARY), 'utf8'), primaryText);
  assert.match(daemonLog, /meshnet is being uninstalled \(DaemonSet meshnet\/meshnet is gone\)/);
});
