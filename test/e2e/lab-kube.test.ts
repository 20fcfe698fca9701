// The Kubernetes path end to end, on one machine: `lab up --kubeconfig` against the API-server
// double (listening on this host's loopback, reached from the node namespaces through the lab's
// proxy). Every node's meshnetd uses the API server as its one store and serves upstream's bare
// conflist entry; the triangle passes traffic over VXLAN and grpc-wire; what kubectl shows is
// what the daemons wrote; cut connections, a bad link and an unreachable API server behave; and
// `lab down` deletes exactly what the lab created there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { listNamedNetns } from '../../src/kernel';
import {
  checkLinks, labDaemonPids, labDown, labPrefix, labProxyPids, labUp, parseLabFile, startPod, stopPod, type LabState,
} from '../../src/lab';
import { startApiProxyProcess } from '../../src/lab/daemons';
import { KubeStore } from '../../src/store/kube/kube-store';
import { TopologyClient } from '../../src/topology';
import { startKube, type TestKube } from '../helpers/kube';

const runDir = mkdtempSync(join(tmpdir(), 'labkube-'));
const cniBinDir = resolve('dist/cni');
const uniq = () => `k${process.pid % 10000}${randomBytes(2).toString('hex')}`;
let kube: TestKube;

before(async () => { kube = await startKube({ crds: false }); });
after(async () => {
  await kube?.stop();
  rmSync(runDir, { recursive: true, force: true });
});

/** The shipped triangle on three nodes, its pods in namespace `ns`. */
function triangle(name: string, ns: string, linkType?: 'grpc'): ReturnType<typeof parseLabFile> {
  const text = readFileSync('examples/triangle-vxlan.yaml', 'utf8');
  const spec = parseLabFile(text);
  return {
    ...spec, name,
    pods: spec.pods.map((p) => ({ ...p, namespace: ns })),
    topologies: spec.topologies.map((t) => ({ ...t, metadata: { ...t.metadata, namespace: ns } })),
    ...(linkType ? { interNodeLinkType: linkType } : {}),
  };
}

function leftovers(lab: string): string[] {
  return [
    ...listNamedNetns().filter((n) => n.startsWith(labPrefix(lab))),
    ...labDaemonPids(lab).map((p) => `meshnetd pid ${p}`),
    ...labProxyPids(lab).map((p) => `api proxy pid ${p}`),
  ];
}

function kubectl(args: string[]): Promise<{ status: number | null; out: string; err: string }> {
  return new Promise((resolveRun, reject) => {
    const c = spawn('kubectl', ['--kubeconfig', kube.kubeconfig, '--cache-dir', join(kube.dir, 'kubectl-cache'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', reject);
    c.on('close', (status) => resolveRun({ status, out, err }));
  });
}

async function linkRows(state: LabState) {
  const topos = await new TopologyClient(new KubeStore(state.store)).list(state.pods[0]!.namespace);
  return checkLinks(state, topos);
}

test('triangle over VXLAN with a Kubernetes store: the lab installs the CRDs and namespace, every link passes traffic, kubectl shows what the daemons wrote, down deletes all of it', async () => {
  const name = uniq();
  const ns = `${name}-ns`;
  const spec = triangle(name, ns);
  try {
    const state = await labUp(spec, '(triangle-vxlan)', { runDir, cniBinDir, kubeconfig: kube.kubeconfig });
    assert.deepEqual(state.kube?.created.crds.sort(), ['gwirekobjs.networkop.co.uk', 'topologies.networkop.co.uk']);
    assert.deepEqual(state.kube?.created.namespaces, [ns]);
    // The nodes' conflist carries upstream's bare entry: the daemon is the store and node IP.
    const conflist = JSON.parse(readFileSync(state.nodes[0]!.conflist, 'utf8')) as { plugins: Record<string, unknown>[] };
    assert.deepEqual(conflist.plugins[1], { type: 'meshnet', name: 'meshnet' });
    const rows = await linkRows(state);
    assert.deepEqual(rows.map((r) => [r.uid, r.kind, r.pass]), [[1, 'vxlan', true], [2, 'vxlan', true], [3, 'vxlan', true]]);
    // kubectl reads back exactly what the daemons wrote through the status subresource.
    const y = parseYaml((await kubectl(['get', 'topo', '-n', ns, '-o', 'yaml'])).out) as { items: { metadata: { name: string }; status: Record<string, string> }[] };
    for (const item of y.items) {
      const pod = state.pods.find((p) => p.name === item.metadata.name)!;
      const node = state.nodes.find((n) => n.name === pod.node)!;
      assert.deepEqual(item.status, { src_ip: node.underlayIp, net_ns: `/var/run/netns/${pod.netns}`, container_id: pod.containerId });
    }
    const table = (await kubectl(['get', 'topo', '-n', ns])).out;
    assert.match(table, /r1\s+192\.0\.2\.11\s+\d+s/);
    // Every status write went through the status subresource as a merge patch.
    const writes = kube.double.requests.filter((r) => r.path.includes(`/namespaces/${ns}/topologies/`) && ['patch', 'update'].includes(r.verb));
    assert.ok(writes.length >= 3 && writes.every((r) => r.resource === 'topologies/status' && r.contentType === 'application/merge-patch+json'), JSON.stringify(writes.slice(0, 3)));
  } finally {
    const r = await labDown(name, { runDir });
    assert.deepEqual([r.podErrors, r.apiErrors], [[], []]);
  }
  assert.deepEqual(leftovers(name), []);
  assert.equal(kube.double.object('', 'namespaces', undefined, ns), undefined, 'the namespace the lab created is gone');
  assert.equal(kube.double.object('apiextensions.k8s.io', 'customresourcedefinitions', undefined, 'topologies.networkop.co.uk'), undefined, 'the CRDs the lab installed are gone');
});

test('grpc-wire triangle with a Kubernetes store: traffic over the wires, GWireKObj records with integer ids; down leaves foreign objects alone', async () => {
  kube.seed(readFileSync('deploy/base/crds.yaml', 'utf8'));
  kube.namespace('foreign');
  kube.seed(`{"apiVersion":"networkop.co.uk/v1beta1","kind":"Topology","metadata":{"name":"theirs","namespace":"foreign"},"spec":{"links":[]}}`);
  const name = uniq();
  const spec = triangle(name, 'default', 'grpc');
  try {
    const state = await labUp(spec, '(triangle-grpc)', { runDir, cniBinDir, kubeconfig: kube.kubeconfig });
    assert.deepEqual(state.kube?.created, { crds: [], namespaces: [], topologies: state.kube!.created.topologies });
    const rows = await linkRows(state);
    assert.deepEqual(rows.map((r) => [r.uid, r.pass]), [[1, true], [2, true], [3, true]]);
    const records = new KubeStore(state.store);
    const g = (await records.get('gwirekobjs', 'default', 'node1'))!;
    const items = (g.status as { grpcWireItems: Record<string, unknown>[] }).grpcWireItems;
    assert.equal(items.length, 2, 'r1 has two cross-node wires on node1');
    for (const i of items) assert.ok(Number.isSafeInteger(i.wire_iface_id_on_peer_node) && Number.isSafeInteger(i.link_id), JSON.stringify(i));
  } finally {
    const r = await labDown(name, { runDir });
    assert.deepEqual([r.podErrors, r.apiErrors], [[], []]);
  }
  assert.deepEqual(leftovers(name), []);
  const store = new KubeStore(kube.storeRef);
  assert.deepEqual((await store.list('topologies')).map((o) => `${o.metadata.namespace}/${o.metadata.name}`), ['foreign/theirs'], "only the foreign Topology remains");
  assert.deepEqual(await store.list('gwirekobjs'), [], 'the lab nodes\' wire records are gone');
  assert.ok(kube.double.object('apiextensions.k8s.io', 'customresourcedefinitions', undefined, 'topologies.networkop.co.uk'), 'CRDs the lab did not install stay');
});

test('every watch and connection to the API server cut again and again while the lab comes up: all links still pass traffic', async () => {
  const name = uniq();
  const spec = triangle(name, 'default');
  const cutter = setInterval(() => {
    kube.double.dropWatches();
    kube.double.dropConnections();
  }, 25);
  let state: LabState | undefined;
  try {
    state = await labUp(spec, '(triangle-vxlan)', { runDir, cniBinDir, kubeconfig: kube.kubeconfig });
    clearInterval(cutter);
    const rows = await linkRows(state);
    assert.deepEqual(rows.map((r) => [r.uid, r.pass]), [[1, true], [2, true], [3, true]]);
  } finally {
    clearInterval(cutter);
    await labDown(name, { runDir });
  }
  assert.deepEqual(leftovers(name), []);
});

test('a Topology edited to hold a bad link: on re-ADD the link is named in plumbing_error (kubectl get topo shows it) and the valid links come back', async () => {
  const name = uniq();
  const spec = triangle(name, 'default');
  try {
    const state = await labUp(spec, '(triangle-vxlan)', { runDir, cniBinDir, kubeconfig: kube.kubeconfig });
    const store = new KubeStore(state.store);
    const cur = (await store.get('topologies', 'default', 'r1'))!;
    const links = (cur.spec as { links: object[] }).links;
    await store.update('topologies', { ...cur, spec: { links: [...links, { uid: 9, peer_pod: 'r2', local_intf: 'a-name-way-too-long', peer_intf: 'eth9' }] } });
    const pod = state.pods.find((p) => p.name === 'r1')!;
    const node = state.nodes.find((n) => n.name === pod.node)!;
    await stopPod(state, node, pod);
    await startPod(state, node, pod);
    const table = (await kubectl(['get', 'topo', 'r1'])).out;
    assert.match(table, /r1\s+192\.0\.2\.11\s+spec\.links\[2\]\.local_intf: "a-name-way-too-long" is not a valid interface name/);
    const rows = await linkRows(state);
    assert.deepEqual(rows.filter((r) => r.uid !== 9).map((r) => [r.uid, r.pass]), [[1, true], [2, true], [3, true]]);
  } finally {
    await labDown(name, { runDir });
  }
  assert.deepEqual(leftovers(name), []);
});

test('the API server unreachable from a node at ADD: a CNI error naming the server, and nothing half-made', async () => {
  const name = uniq();
  const spec = triangle(name, 'default');
  try {
    const state = await labUp(spec, '(triangle-vxlan)', { runDir, cniBinDir, kubeconfig: kube.kubeconfig });
    const pod = state.pods.find((p) => p.name === 'r1')!;
    const node = state.nodes.find((n) => n.name === pod.node)!;
    await stopPod(state, node, pod);
    // Cut the node namespaces off the API server: stop the lab's proxy.
    process.kill(state.apiProxyPid!, 'SIGTERM');
    for (let i = 0; i < 100 && labProxyPids(name).length; i++) await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(startPod(state, node, pod), (e: Error & { code?: number }) =>
      e.code === 100 && /Kubernetes API https:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/.test(e.message));
    assert.ok(!listNamedNetns().includes(pod.netns), 'the failed sandbox is gone');
    assert.deepEqual((await new KubeStore(state.store).get('topologies', 'default', 'r1'))?.status ?? {}, {}, 'r1 was never marked alive');
    // With the API server back, the pod's next sandbox (a new container id, as kubelet makes) comes up with its links.
    state.apiProxyPid = await startApiProxyProcess(state);
    pod.containerId = randomBytes(32).toString('hex');
    await startPod(state, node, pod);
    const rows = await linkRows(state);
    assert.deepEqual(rows.map((r) => [r.uid, r.pass]), [[1, true], [2, true], [3, true]]);
  } finally {
    await labDown(name, { runDir });
  }
  assert.deepEqual(leftovers(name), []);
});
