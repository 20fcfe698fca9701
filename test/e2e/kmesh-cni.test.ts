// kmesh-cni in real chains: Debian's bridge + host-local as the main plugin, then kmesh-cni,
// exec'd as a runtime execs them, for every CNI version. Around it:
//   - a Kubernetes API-server double (node:https on 127.0.0.1, self-signed CA made with openssl,
//     bearer-token checked) serving namespaces and pods with labels and 404 Status objects;
//   - a real cgroup v1 net_cls hierarchy mounted on a temp dir (falls back to a plain directory
//     tree, and says so in the test names, when the kernel refuses the mount);
//   - real pod network namespaces and the node's real iptables, read back with
//     `ip netns exec <pod> iptables -t nat -S`.
// The plugin binary is copied out of dist/ into a temp CNI bin dir first: the installer ships it
// alone to /opt/cni/bin, so it must run without the project's node_modules.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  CHAINED_VERSIONS, addNetworkList, checkNetworkList, delNetworkList, execPlugin, formatResult, parseConfList, parseResult,
  versionAtLeast, type CniResult, type CniVersion, type Invocation, PluginExecError,
} from '../../src/cni';
import { createNamedNetns, deleteNamedNetns, listNamedNetns } from '../../src/kernel';
import { kubeconfigText } from '../../src/plugins/kmesh/installer/kubeconfig-writer';

const REF = '/usr/lib/cni';
const REF_MAX: CniVersion = '1.0.0'; // Debian's plugins speak up to 1.0.0
const run = `km${process.pid % 100000}${randomBytes(2).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), `${run}-`));
const binDir = join(dir, 'bin');
const cgRoot = join(dir, 'net_cls');
const logFile = join(dir, 'log', 'kmesh-cni.log');
const ipamDir = join(dir, 'ipam');
const bridgeName = `kb${randomBytes(3).toString('hex')}`;
let mounted = false;
const createdCgroups: string[] = [];

// ---- the API-server double ------------------------------------------------------------------
interface Api {
  server: Server;
  url: string;
  token: string;
  ca: string;
  namespaces: Map<string, Record<string, string>>;
  pods: Map<string, { uid: string; labels: Record<string, string> }>;
  requests: string[];
}

function status(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

async function startApi(): Promise<Api> {
  const key = join(dir, 'api.key');
  const crt = join(dir, 'api.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '1',
    '-subj', '/CN=kube-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const api: Omit<Api, 'server' | 'url'> = {
    token: randomBytes(16).toString('hex'), ca: readFileSync(crt, 'utf8'),
    namespaces: new Map(), pods: new Map(), requests: [],
  };
  const server = createServer({ key: readFileSync(key), cert: readFileSync(crt) }, (req, res) => {
    const url = req.url ?? '';
    api.requests.push(`${req.method} ${url}`);
    const send = (code: number, body: string): void => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(body);
    };
    if (req.headers.authorization !== `Bearer ${api.token}`) return send(401, status(401, 'Unauthorized', 'Unauthorized'));
    if (req.method !== 'GET') return send(405, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
    let m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url);
    if (m) {
      const name = decodeURIComponent(m[1]!);
      const labels = api.namespaces.get(name);
      if (labels === undefined) return send(404, status(404, 'NotFound', `namespaces "${name}" not found`));
      return send(200, JSON.stringify({ kind: 'Namespace', apiVersion: 'v1', metadata: { name, uid: randomUUID(), labels }, status: { phase: 'Active' } }));
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(url);
    if (m) {
      const [ns, name] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
      const pod = api.pods.get(`${ns}/${name}`);
      if (pod === undefined) return send(404, status(404, 'NotFound', `pods "${name}" not found`));
      return send(200, JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name, namespace: ns, uid: pod.uid, labels: pod.labels }, spec: {}, status: {} }));
    }
    return send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { ...api, server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

let api: Api;
let kubeconfig: string;

before(async () => {
  mkdirSync(binDir, { recursive: true });
  copyFileSync(resolve('dist/cni/kmesh-cni'), join(binDir, 'kmesh-cni'));
  execFileSync('chmod', ['0755', join(binDir, 'kmesh-cni')]);
  mkdirSync(cgRoot);
  try {
    execFileSync('mount', ['-t', 'cgroup', '-o', 'net_cls', 'none', cgRoot], { stdio: 'ignore' });
    mounted = true;
  } catch {
    mounted = false; // plain directory tree below: the tests say so in their names
  }
  api = await startApi();
  kubeconfig = join(dir, 'kmesh-cni-kubeconfig');
  writeFileSync(kubeconfig, kubeconfigText(api.url, { token: api.token, ca: api.ca }), { mode: 0o600 });
});

after(() => {
  api?.server.close();
  for (const n of listNamedNetns().filter((x) => x.startsWith(run))) deleteNamedNetns(n);
  try { execFileSync('ip', ['link', 'del', bridgeName], { stdio: 'ignore' }); } catch { /* never created */ }
  // Deepest first; shared parents (another run may use the same hierarchy) are left when busy.
  for (const d of [...createdCgroups].sort((a, b) => b.length - a.length)) {
    try { rmdirSync(d); } catch { /* busy or gone */ }
  }
  if (mounted) {
    try { execFileSync('umount', [cgRoot]); } catch (e) { console.error(`umount ${cgRoot}: ${(e as Error).message}`); }
  }
  rmSync(dir, { recursive: true, force: true });
});

const tree = (): string => (mounted ? 'real net_cls mount' : 'PLAIN DIRECTORY TREE (net_cls mount refused)');

// ---- pods ----------------------------------------------------------------------------------
type Layout = 'cgroupfs-besteffort' | 'cgroupfs-guaranteed' | 'systemd-burstable' | 'systemd-guaranteed';

/** Creates the pod's cgroup directory (and parents) the way kubelet's driver names it. */
function podCgroup(uid: string, layout: Layout): string {
  const u = uid.replace(/-/g, '_');
  const parts: Record<Layout, string[]> = {
    'cgroupfs-besteffort': ['kubepods', 'besteffort', `pod${uid}`],
    'cgroupfs-guaranteed': ['kubepods', `pod${uid}`],
    'systemd-burstable': ['kubepods.slice', 'kubepods-burstable.slice', `kubepods-burstable-pod${u}.slice`],
    'systemd-guaranteed': ['kubepods.slice', `kubepods-pod${u}.slice`],
  };
  let p = cgRoot;
  for (const part of parts[layout]) {
    p = join(p, part);
    if (!existsSync(p)) {
      mkdirSync(p);
      createdCgroups.push(p);
    }
  }
  if (!mounted) writeFileSync(join(p, 'net_cls.classid'), '0\n');
  return p;
}

const classid = (cg: string): number => Number(readFileSync(join(cg, 'net_cls.classid'), 'utf8').trim());

interface Pod { ns: string; name: string; uid: string; netns: string; cg: string; id: string }

let podSeq = 0;
function pod(namespace: string, opts: { layout?: Layout; labels?: Record<string, string>; register?: boolean } = {}): Pod {
  const uid = randomUUID();
  const name = `pod-${++podSeq}`;
  const netnsName = `${run}-p${podSeq}`;
  createNamedNetns(netnsName);
  if (opts.register ?? true) api.pods.set(`${namespace}/${name}`, { uid, labels: opts.labels ?? {} });
  const cg = podCgroup(uid, opts.layout ?? 'cgroupfs-besteffort');
  return { ns: namespace, name, uid, netns: `/var/run/netns/${netnsName}`, cg, id: `c${randomBytes(8).toString('hex')}` };
}

function nsWith(labels: Record<string, string>): string {
  const name = `ns-${randomBytes(3).toString('hex')}`;
  api.namespaces.set(name, labels);
  return name;
}

const ENROLLED = { 'istio.io/dataplane-mode': 'Kmesh' };
const ENROLLED_INJECTED = { 'istio.io/dataplane-mode': 'Kmesh', 'istio-injection': 'enabled' };

function natRules(p: Pod): string[] {
  const name = p.netns.split('/').pop()!;
  return execFileSync('ip', ['netns', 'exec', name, 'iptables', '-t', 'nat', '-S'], { encoding: 'utf8' })
    .split('\n').filter((l) => l.startsWith('-A '));
}

// ---- the chain -----------------------------------------------------------------------------
let subnetSeq = 0;
function mainList(version: CniVersion) {
  const n = ++subnetSeq;
  return parseConfList({
    cniVersion: version === '1.1.0' ? REF_MAX : version, name: `kmnet${n}`,
    plugins: [{ type: 'bridge', bridge: bridgeName, ipam: { type: 'host-local', subnet: `10.251.${n}.0/24`, dataDir: ipamDir } }],
  });
}

function kmeshConf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'kmesh-cni', kubeConfig: kubeconfig, netClsRoot: cgRoot, logFile, logLevel: 'debug', ...extra };
}

function inv(p: Pod, k8s = true): Invocation {
  const args: Record<string, string> = k8s ? { IgnoreUnknown: '1', K8S_POD_NAMESPACE: p.ns, K8S_POD_NAME: p.name, K8S_POD_UID: p.uid, K8S_POD_INFRA_CONTAINER_ID: p.id } : {};
  return { containerId: p.id, netns: p.netns, ifname: 'eth0', path: [binDir, REF], args, timeoutMs: 30_000 };
}

function kmeshStdin(version: CniVersion, name: string, prev: CniResult | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...kmeshConf(extra), name, cniVersion: version };
  if (prev !== undefined) conf['prevResult'] = formatResult({ ...prev, cniVersion: version }, version);
  return conf;
}

/**
 * ADD as a runtime does it. Up to 1.0.0 one conflist [bridge, kmesh-cni] through addNetworkList;
 * for 1.1.0 bridge runs at 1.0.0 and kmesh-cni gets 1.1.0 with bridge's result. Returns the
 * main plugin's result and kmesh-cni's raw stdout (for the pass-through check).
 */
async function add(p: Pod, version: CniVersion, opts: { k8s?: boolean; extra?: Record<string, unknown> } = {}) {
  const list = mainList(version);
  const i = inv(p, opts.k8s ?? true);
  if (version !== '1.1.0') {
    const full = parseConfList({ ...list.raw, plugins: [...list.plugins, kmeshConf(opts.extra)] });
    const result = await addNetworkList(full, i);
    return { list, main: result, out: formatResult(result, version) };
  }
  const main = await addNetworkList(list, i);
  const out = await execPlugin(kmeshStdin(version, list.name, main, opts.extra), 'ADD', i);
  return { list, main, out: out as Record<string, unknown> };
}

async function kmesh(cmd: 'ADD' | 'CHECK' | 'DEL', p: Pod, version: CniVersion, list: { name: string }, prev: CniResult | undefined, extra: Record<string, unknown> = {}, k8s = true) {
  return execPlugin(kmeshStdin(version, list.name, prev, extra), cmd, inv(p, k8s));
}

function podAddr(p: Pod): string {
  const name = p.netns.split('/').pop()!;
  return execFileSync('ip', ['-n', name, '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }).split(/\s+/)[3] ?? '';
}

// ---- tests ---------------------------------------------------------------------------------
// Chained after a main plugin, on its prevResult: CNI 0.3.0 and newer (0.1.0/0.2.0 had no chains).
for (const version of CHAINED_VERSIONS) {
  test(`${version}: enrolled + injected namespace: classid 0x1000, RETURN rules once, prevResult passed through, DEL removes rules and is idempotent (${tree()})`, async () => {
    const ns = nsWith(ENROLLED_INJECTED);
    const p = pod(ns);
    assert.equal(classid(p.cg), 0);
    const { list, main, out } = await add(p, version);
    // The pod got its address from bridge/host-local and the chain's result still reports it.
    assert.equal(main.ips[0]?.address, podAddr(p));
    assert.ok(main.interfaces.some((x) => x.name === 'eth0' && x.sandbox === p.netns), 'bridge\'s eth0 is still in the result');
    assert.equal(classid(p.cg), 4096);
    assert.deepEqual(natRules(p), ['-A PREROUTING -j RETURN', '-A OUTPUT -j RETURN']);

    // kmesh-cni's own output is exactly its prevResult, in the config's version.
    const direct = await kmesh('ADD', p, version, list, main);
    assert.deepEqual(direct, formatResult({ ...main, cniVersion: version }, version));
    assert.deepEqual(out, formatResult({ ...main, cniVersion: version }, version));
    // The repeated ADD inserted nothing twice.
    assert.deepEqual(natRules(p), ['-A PREROUTING -j RETURN', '-A OUTPUT -j RETURN']);

    if (versionAtLeast(version, '0.4.0')) {
      if (version !== '1.1.0') await checkNetworkList(parseConfList({ ...list.raw, plugins: [...list.plugins, kmeshConf()] }), inv(p), main);
      else await kmesh('CHECK', p, version, list, main);
    }

    await kmesh('DEL', p, version, list, versionAtLeast(version, '0.4.0') ? main : undefined);
    assert.deepEqual(natRules(p), []);
    await kmesh('DEL', p, version, list, undefined);
    await delNetworkList(list, inv(p), main);
    deleteNamedNetns(p.netns.split('/').pop()!);
    await kmesh('DEL', p, version, list, undefined); // netns gone: still a success
    const log = readFileSync(logFile, 'utf8');
    assert.match(log, new RegExp(`level=info msg="enrolled .* plugin=kmesh-cni command=ADD container=${p.id} pod=${ns}/${p.name}`));
  });
}

for (const layout of ['cgroupfs-guaranteed', 'systemd-burstable', 'systemd-guaranteed'] as const) {
  test(`${layout} layout: the pod's directory is found and gets the classid (${tree()})`, async () => {
    const p = pod(nsWith(ENROLLED), { layout });
    await add(p, '1.0.0');
    assert.equal(classid(p.cg), 4096);
    assert.deepEqual(natRules(p), [], 'no istio-injection label: no RETURN rules');
  });
}

test('the label value is case-insensitive; a namespace without it is left alone (pass-through, classid 0, no API call for the pod)', async () => {
  const lower = pod(nsWith({ 'istio.io/dataplane-mode': 'kmesh', 'istio-injection': 'enabled' }));
  await add(lower, '1.0.0');
  assert.equal(classid(lower.cg), 4096);
  assert.equal(natRules(lower).length, 2);

  const plainNs = nsWith({ 'istio-injection': 'enabled' });
  const plain = pod(plainNs);
  const before = api.requests.length;
  const { main, out } = await add(plain, '1.0.0');
  assert.equal(classid(plain.cg), 0);
  assert.deepEqual(natRules(plain), []);
  assert.deepEqual(out, formatResult(main, '1.0.0'));
  assert.ok(!api.requests.slice(before).some((r) => r.includes('/pods/')), 'pod not read for a non-enrolled namespace');

  const other = pod(nsWith({ 'istio.io/dataplane-mode': 'ambient' }));
  await add(other, '1.0.0');
  assert.equal(classid(other.cg), 0);
});

test('a pod labelled istio.io/dataplane-mode=none opts out of an enrolled namespace', async () => {
  const p = pod(nsWith(ENROLLED_INJECTED), { labels: { 'istio.io/dataplane-mode': 'none' } });
  await add(p, '1.0.0');
  assert.equal(classid(p.cg), 0);
  assert.deepEqual(natRules(p), []);
});

test('a container without K8S_POD_NAME/K8S_POD_NAMESPACE passes through without contacting the API', async () => {
  const p = pod(nsWith(ENROLLED_INJECTED));
  const before = api.requests.length;
  const { main, out } = await add(p, '1.0.0', { k8s: false });
  assert.deepEqual(out, formatResult(main, '1.0.0'));
  assert.equal(api.requests.length, before);
  assert.equal(classid(p.cg), 0);
});

test('without prevResult ADD fails with code 7 saying kmesh-cni must be chained', async () => {
  const p = pod(nsWith(ENROLLED));
  await assert.rejects(kmesh('ADD', p, '1.0.0', { name: 'x' }, undefined), (e: PluginExecError) => {
    assert.equal(e.code, 7);
    assert.match(e.message, /prevResult/);
    assert.match(e.details, /chained/);
    return true;
  });
  assert.equal(classid(p.cg), 0);
});

async function addFails(p: Pod, extra: Record<string, unknown>, code: number, pattern: RegExp): Promise<void> {
  const list = mainList('1.0.0');
  const main = await addNetworkList(list, inv(p));
  await assert.rejects(kmesh('ADD', p, '1.0.0', list, main, extra), (e: PluginExecError) => {
    assert.equal(e.plugin, 'kmesh-cni');
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
  assert.equal(classid(p.cg), 0, 'a failed ADD changed the classid');
  assert.deepEqual(natRules(p), [], 'a failed ADD left iptables rules');
}

test('errors name what failed: API unreachable (11), namespace not found (100), pod not found (100), bad token (100), cgroup dir missing (101)', async () => {
  // A port nothing listens on.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  const deadCfg = join(dir, 'dead-kubeconfig');
  writeFileSync(deadCfg, kubeconfigText(`https://127.0.0.1:${port}`, { token: api.token, ca: api.ca }));
  await addFails(pod(nsWith(ENROLLED_INJECTED)), { kubeConfig: deadCfg }, 11, new RegExp(`Kubernetes API unreachable.*127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));

  const missingNs = pod('no-such-namespace');
  await addFails(missingNs, {}, 100, /namespace "no-such-namespace" not found/);

  const ghost = pod(nsWith(ENROLLED_INJECTED), { register: false });
  await addFails(ghost, {}, 100, new RegExp(`pod "${ghost.ns}/${ghost.name}" not found`));

  const badCfg = join(dir, 'bad-token-kubeconfig');
  writeFileSync(badCfg, kubeconfigText(api.url, { token: 'wrong', ca: api.ca }));
  await addFails(pod(nsWith(ENROLLED_INJECTED)), { kubeConfig: badCfg }, 100, /HTTP 401: Unauthorized/);

  const noCgroup = pod(nsWith(ENROLLED_INJECTED));
  const emptyRoot = join(dir, 'empty-net-cls');
  mkdirSync(emptyRoot, { recursive: true });
  await addFails(noCgroup, { netClsRoot: emptyRoot }, 101, new RegExp(`pod cgroup not found.*${noCgroup.uid}.*${emptyRoot}`));

  await addFails(pod(nsWith(ENROLLED)), { kubeConfig: join(dir, 'nope') }, 105, /cannot load kubeconfig.*nope/);
});

test('CHECK reports a classid that no longer says 0x1000 and a missing RETURN rule (code 104)', async () => {
  const p = pod(nsWith(ENROLLED_INJECTED));
  const { list, main } = await add(p, '1.0.0');
  await kmesh('CHECK', p, '1.0.0', list, main);
  writeFileSync(join(p.cg, 'net_cls.classid'), '0');
  execFileSync('ip', ['netns', 'exec', p.netns.split('/').pop()!, 'iptables', '-t', 'nat', '-D', 'OUTPUT', '1']);
  await assert.rejects(kmesh('CHECK', p, '1.0.0', list, main), (e: PluginExecError) => {
    assert.equal(e.code, 104);
    assert.match(e.details, /net_cls\.classid is 0, want 4096/);
    assert.match(e.details, /nat OUTPUT does not start with "-j RETURN"/);
    assert.doesNotMatch(e.details, /PREROUTING/);
    return true;
  });
});

test('a 0.3.x result passes through in its own shape (no CHECK before 0.4.0)', async () => {
  const p = pod(nsWith(ENROLLED));
  const { main, out } = await add(p, '0.3.1');
  assert.equal(out['cniVersion'], '0.3.1');
  assert.deepEqual(parseResult(out, 'out', '0.3.1').ips, main.ips);
});
