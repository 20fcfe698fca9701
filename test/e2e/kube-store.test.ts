// The Kubernetes store where it differs from the others: real API-server behaviour it must survive
// (dropped watch connections, 410 Gone, 409 conflicts, bookmarks), GWireKObj's integer ids and
// full updates, in-cluster credentials, and the errors a user sees for a missing kubeconfig, an
// unreachable or unauthenticated server, missing permissions and missing CRDs. Against the
// API-server double (test/apiserver), which test/e2e/kube-double.test.ts holds to kubectl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError, openStore, type StoredObject, type WatchEvent } from '../../src/store';
import { KubeStore } from '../../src/store/kube/kube-store';
import { WireRecords, type GWireItem } from '../../src/wire/records';
import { meshnetRules, startKube, type TestKube } from '../helpers/kube';
import { until as waitUntil } from '../helpers/wait';

let kube: TestKube;
before(async () => {
  kube = await startKube();
});
after(async () => {
  await kube?.stop();
});

let seq = 0;
/** A fresh namespace per test, so tests never see each other's objects. */
function ns(): string {
  const n = `ks${++seq}`;
  kube.namespace(n);
  return n;
}

const topo = (name: string, namespace: string): StoredObject => ({
  apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name, namespace },
  spec: { links: [{ uid: 1, peer_pod: 'peer', local_intf: 'eth1', peer_intf: 'eth1' }] },
});

const item = (namespace: string, pod: string, id: number): GWireItem => ({
  node_name: 'node1', link_id: 7, topo_namespace: namespace, local_pod_net_ns: `/var/run/netns/${pod}`, local_pod_name: pod,
  local_pod_ip: '10.0.0.1/24', local_pod_iface_name: 'eth1', wire_iface_name_on_local_node: 'gw1', wire_iface_id_on_peer_node: id, gwire_peer_node_ip: '192.0.2.12',
});

function reason(r: StoreError['code'], re?: RegExp) {
  return (e: unknown) => e instanceof StoreError && e.code === r && (!re || re.test(e.message));
}


/** The watches here settle in milliseconds: 5 s is ample. */
const until = (what: string, f: () => boolean, ms = 5000) => waitUntil(what, f, ms);

const watchRequests = (namespace: string) => kube.double.requests.filter((r) => r.verb === 'watch' && r.path.includes(`/namespaces/${namespace}/`));
const listRequests = (namespace: string) => kube.double.requests.filter((r) => r.verb === 'list' && r.path.includes(`/namespaces/${namespace}/`));

test('GWireKObj records are written with integer ids, as the CRD types them (a string id is refused with 422)', async () => {
  const n = ns();
  const records = new WireRecords(new KubeStore(kube.storeRef), 'node1');
  await records.upsert(item(n, 'r1', 2 ** 53 - 1));
  const stored = kube.double.object('networkop.co.uk', 'gwirekobjs', n, 'node1') as { status: { grpcWireItems: Record<string, unknown>[] } };
  assert.equal(stored.status.grpcWireItems[0]!.wire_iface_id_on_peer_node, 2 ** 53 - 1);
  assert.equal(stored.status.grpcWireItems[0]!.link_id, 7);
  assert.deepEqual(await records.list(), [item(n, 'r1', 2 ** 53 - 1)]);
  // Found the way upstream finds them: a field selector on the node's name, across namespaces.
  assert.ok(kube.double.requests.some((r) => r.verb === 'list' && r.path === '/apis/networkop.co.uk/v1beta1/gwirekobjs?fieldSelector=metadata.name%3Dnode1'));
  // What the records used to write: the API server refuses it.
  const s = new KubeStore(kube.storeRef);
  const cur = (await s.get('gwirekobjs', n, 'node1'))!;
  await assert.rejects(s.update('gwirekobjs', { ...cur, status: { grpcWireItems: [{ ...item(n, 'r1', 1), wire_iface_id_on_peer_node: '1' }] } }),
    reason('Invalid', /422.*wire_iface_id_on_peer_node in body must be of type integer/));
});

test('fields the CRD does not declare are pruned by the API server (with a warning), as a real one does: they never come back', async () => {
  const n = ns();
  const s = new KubeStore(kube.storeRef);
  const o = topo('pr1', n);
  (o.spec as { links: Record<string, unknown>[] }).links[0]!.speed = '10G';
  const created = await s.create('topologies', o);
  assert.deepEqual((created.spec as { links: Record<string, unknown>[] }).links[0], { uid: 1, peer_pod: 'peer', local_intf: 'eth1', peer_intf: 'eth1' });
  const patched = await s.patchStatus('topologies', n, 'pr1', { src_ip: '192.0.2.1', favourite_colour: 'blue' });
  assert.deepEqual(patched.status, { src_ip: '192.0.2.1' });
});

test('two daemons recording wires in the same GWireKObj at once: the 409 conflicts are retried and no record is lost', async () => {
  const n = ns();
  const a = new WireRecords(new KubeStore(kube.storeRef), 'race-node');
  const b = new WireRecords(new KubeStore(kube.storeRef), 'race-node');
  const pods = Array.from({ length: 8 }, (_, i) => `p${i}`);
  await Promise.all(pods.map((p, i) => (i % 2 ? a : b).upsert(item(n, p, i + 1))));
  assert.deepEqual((await a.list()).map((i) => i.local_pod_name).sort(), pods);
  assert.ok(kube.double.requests.some((r) => r.status === 409 && r.path.includes(`/namespaces/${n}/gwirekobjs`)), 'there were conflicts to retry');
});

test('one daemon taking 40 wires down at once (a pod\'s DEL) removes every record: its writes to one GWireKObj take turns', async () => {
  const n = ns();
  const r = new WireRecords(new KubeStore(kube.storeRef), 'busy-node');
  const pods = Array.from({ length: 40 }, (_, i) => `p${i}`);
  for (const [i, p] of pods.entries()) await r.upsert(item(n, p, i + 1));
  const removed = await Promise.all(pods.map((p) => r.remove({ topo_namespace: n, local_pod_name: p, local_pod_iface_name: 'eth1' })));
  assert.ok(removed.every(Boolean), 'each removal found its record');
  assert.deepEqual(await r.list(), []);
});

test('a watch survives its connection being cut again and again: no change is lost, the view converges', async () => {
  const n = ns();
  const s = new KubeStore(kube.storeRef);
  const view = new Map<string, string | undefined>();
  const w = s.watch('topologies', n, (e: WatchEvent) => {
    if (e.type === 'DELETED') view.delete(e.object.metadata.name);
    else view.set(e.object.metadata.name, (e.object.status as { src_ip?: string } | undefined)?.src_ip);
  });
  await w.synced;
  await until('the watch is open', () => watchRequests(n).length === 1);
  try {
    for (let i = 0; i < 10; i++) {
      await s.create('topologies', topo(`t${i}`, n));
      await s.patchStatus('topologies', n, `t${i}`, { src_ip: `192.0.2.${i}` });
      if (i % 3 === 1) await s.delete('topologies', n, `t${i - 1}`);
      // Cut the watch; changes made before it is back must still arrive (it resumes from its version).
      const before = watchRequests(n).length;
      assert.equal(kube.double.dropWatches() > 0, true);
      await s.patchStatus('topologies', n, `t${i}`, { src_ip: `198.51.100.${i}` });
      await until('the watch is re-established', () => watchRequests(n).length > before, 3000);
    }
    assert.equal(listRequests(n).length, 1, 'resumed every time, never listed again');
    const truth = new Map((await s.list('topologies', n)).map((o) => [o.metadata.name, (o.status as { src_ip?: string }).src_ip]));
    await until('the watch view matches the store', () => JSON.stringify([...view].sort()) === JSON.stringify([...truth].sort()));
  } finally {
    w.stop();
  }
});

test('410 Gone (history expired while disconnected): the watch lists again and delivers what changed, DELETED included', async () => {
  const n = ns();
  const s = new KubeStore(kube.storeRef);
  await s.create('topologies', topo('keep', n));
  await s.create('topologies', topo('gone', n));
  const events: string[] = [];
  const errors: string[] = [];
  const w = s.watch('topologies', n, (e) => events.push(`${e.type} ${e.object.metadata.name}`), { onError: (e) => errors.push(e.message) });
  await w.synced;
  try {
    const listsBefore = listRequests(n).length;
    await until('the watch is open', () => watchRequests(n).length === 1);
    // Cut the watch and, before it comes back, change things and forget the history.
    assert.equal(kube.double.dropWatches(), 1);
    await s.delete('topologies', n, 'gone');
    await s.create('topologies', topo('new', n));
    kube.double.expireHistory();
    await until('the difference is delivered', () => events.includes('DELETED gone') && events.includes('ADDED new'));
    assert.deepEqual(events.filter((e) => e.endsWith(' keep')), ['ADDED keep'], 'an unchanged object is not re-delivered');
    assert.ok(errors.some((m) => /too old resource version/.test(m)), `the 410 was reported: ${errors.join('; ')}`);
    assert.equal(listRequests(n).length, listsBefore + 1, 'exactly one relist');
  } finally {
    w.stop();
  }
});

test('bookmarks keep an idle watch current: after a cut it resumes at the bookmark, with no 410 and no relist', async () => {
  const n = ns();
  const other = ns();
  const s = new KubeStore(kube.storeRef);
  const w = s.watch('topologies', n, () => undefined);
  await w.synced;
  try {
    // Writes elsewhere move the server's version; this watch sees none of them, only bookmarks.
    for (let i = 0; i < 5; i++) await s.create('topologies', topo(`o${i}`, other));
    const rvAfter = Number(kube.double.resourceVersion);
    await sleep(500); // > the double's bookmark interval (200 ms)
    kube.double.expireHistory();
    const lists = listRequests(n).length;
    kube.double.dropWatches();
    await until('the watch is back', () => watchRequests(n).length >= 2);
    const resumed = new URL(watchRequests(n).at(-1)!.path, 'http://x').searchParams.get('resourceVersion');
    assert.ok(Number(resumed) >= rvAfter, `resumed at the bookmark's version ${resumed} (>= ${rvAfter}), not the list's`);
    await sleep(200);
    assert.equal(listRequests(n).length, lists, 'no relist');
  } finally {
    w.stop();
  }
});

test('every connection cut by the server (a restart, an idle timeout): the next requests go through on new ones', async () => {
  const n = ns();
  const s = new KubeStore(kube.storeRef);
  await s.create('topologies', topo('r1', n));
  for (let i = 0; i < 5; i++) {
    kube.double.dropConnections(); // the client has not seen the close yet: its next request reuses a dead socket
    assert.ok(await s.get('topologies', n, 'r1'));
    kube.double.dropConnections();
    await s.patchStatus('topologies', n, 'r1', { src_ip: `192.0.2.${i}` });
  }
  assert.deepEqual((await s.get('topologies', n, 'r1'))?.status, { src_ip: '192.0.2.4' });
});

test('an unreachable API server: the error names the server', async () => {
  const dead = kube.kubeconfigFor('double-admin-token', 'https://127.0.0.1:1');
  const s = await openStore(`kubernetes:${dead}`);
  await assert.rejects(s.get('topologies', 'default', 'x'), reason('Unavailable', /Kubernetes API https:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/));
});

test('a missing, malformed or context-less kubeconfig: a clear error naming the file', async () => {
  await assert.rejects(openStore(`kubernetes:${join(kube.dir, 'nope')}`), reason('Invalid', /kubeconfig .*nope: no such file/));
  const bad = join(kube.dir, 'bad-kubeconfig');
  writeFileSync(bad, 'clusters: [ {');
  await assert.rejects(openStore(`kubernetes:${bad}`), reason('Invalid', /kubeconfig .*bad-kubeconfig: /));
  const empty = join(kube.dir, 'empty-kubeconfig');
  writeFileSync(empty, 'apiVersion: v1\nkind: Config\nclusters: []\n');
  await assert.rejects(openStore(`kubernetes:${empty}`), reason('Invalid', /no current context with a cluster/));
});

test('refused credentials (401): the error says whose credentials', async () => {
  const s = await openStore(`kubernetes:${kube.kubeconfigFor('not-a-token')}`);
  await assert.rejects(s.list('topologies', 'default'), reason('Unauthorized', /401 Unauthorized listing topologies in default: the credentials from kubeconfig .*kubeconfig-not-a-token-\d+ were refused$/));
});

test('a token without a needed permission (403): the error names the user, the verb and the resource', async () => {
  const n = ns();
  kube.double.addUser({ token: 'read-only', name: 'system:serviceaccount:meshnet:meshnet', rules: [{ apiGroups: ['networkop.co.uk'], resources: ['topologies'], verbs: ['get', 'list', 'watch'] }] });
  await new KubeStore(kube.storeRef).create('topologies', topo('r1', n));
  const s = await openStore(`kubernetes:${kube.kubeconfigFor('read-only')}`);
  assert.ok(await s.get('topologies', n, 'r1'));
  await assert.rejects(s.patchStatus('topologies', n, 'r1', { src_ip: '192.0.2.1' }),
    reason('Forbidden', new RegExp(`403 Forbidden patching the status of topologies ${n}/r1: .*User "system:serviceaccount:meshnet:meshnet" cannot patch resource "topologies/status" in API group "networkop.co.uk" in the namespace "${n}"`)));
});

test("the meshnet ClusterRole (deploy/base/rbac.yaml) allows everything meshnetd does and no more (it cannot create Topologies)", async () => {
  const n = ns();
  kube.double.addUser({ token: 'meshnet-sa', name: 'system:serviceaccount:meshnet:meshnet', rules: meshnetRules() });
  await new KubeStore(kube.storeRef).create('topologies', topo('r1', n));
  const s = await openStore(`kubernetes:${kube.kubeconfigFor('meshnet-sa')}`);
  assert.equal((await s.list('topologies', n)).length, 1);
  await s.patchStatus('topologies', n, 'r1', { src_ip: '192.0.2.1' });
  const w = s.watch('topologies', undefined, () => undefined);
  await w.synced;
  w.stop();
  const records = new WireRecords(s, 'rbac-node');
  await records.upsert(item(n, 'r1', 5));
  assert.equal((await records.list()).length, 1);
  assert.equal(await records.remove(item(n, 'r1', 5)), true);
  await assert.rejects(s.create('topologies', topo('r2', n)), reason('Forbidden', /cannot create resource "topologies"/));
});

test('an API server without meshnet\'s CRDs: the error says to install them', async () => {
  const bare = await startKube({ crds: false });
  try {
    const s = await openStore(bare.storeRef);
    await assert.rejects(s.get('topologies', 'default', 'x'), reason('Invalid', /does not serve topologies\.networkop\.co\.uk\/v1beta1 .*install meshnet's CRDs/));
  } finally {
    await bare.stop();
  }
});

test('in a pod, "kubernetes" uses the service account and KUBERNETES_SERVICE_HOST/PORT; a missing token is named', async () => {
  const sa = join(kube.dir, 'sa');
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'ca.crt'), kube.double.caPem!);
  const saved = { ...process.env };
  try {
    process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
    process.env.KUBERNETES_SERVICE_PORT = String(kube.double.port);
    process.env.MESHNET_SERVICEACCOUNT_DIR = sa;
    await assert.rejects(openStore('kubernetes'), reason('Invalid', /in-cluster credentials: .*sa\/token is missing/));
    writeFileSync(join(sa, 'token'), 'double-admin-token\n');
    const s = await openStore('kubernetes');
    assert.deepEqual(await s.list('topologies', 'default'), []);
    delete process.env.KUBERNETES_SERVICE_HOST;
    await assert.rejects(openStore('kubernetes'), reason('Invalid', /KUBERNETES_SERVICE_HOST is not set\): outside a pod use kubernetes:\/path\/to\/kubeconfig/));
  } finally {
    for (const k of ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'MESHNET_SERVICEACCOUNT_DIR']) {
      if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
  }
});

test('429 Too Many Requests with Retry-After: the request is sent again after the wait the server asked for, and succeeds', async () => {
  const n = ns();
  const s = new KubeStore(kube.storeRef);
  await s.create('topologies', topo('r1', n));
  const remove = kube.double.injectFault({ method: 'GET', path: new RegExp(`/namespaces/${n}/topologies/r1$`), status: 429, retryAfter: 1, times: 2 });
  const t0 = Date.now();
  try {
    assert.equal((await s.get('topologies', n, 'r1'))?.metadata.name, 'r1');
  } finally {
    remove();
  }
  assert.ok(Date.now() - t0 >= 1900, `waited ${Date.now() - t0} ms: the server's Retry-After, twice`);
  assert.equal(kube.double.requests.filter((r) => r.path.endsWith(`/namespaces/${n}/topologies/r1`)).length, 3);
  s.close();
});

test('throttling that outlasts a few seconds ends in an Unavailable error saying so (the caller retries later)', async () => {
  const n = ns();
  const s = new KubeStore(kube.storeRef);
  const remove = kube.double.injectFault({ method: 'POST', path: new RegExp(`/namespaces/${n}/topologies$`), status: 429, retryAfter: 2, times: 100 });
  try {
    await assert.rejects(s.create('topologies', topo('r1', n)), reason('Unavailable', /^Kubernetes API https:\/\/127\.0\.0\.1:\d+: 429 creating topologies ks\d+\/r1: Too many requests, please try again later\.$/));
  } finally {
    remove();
  }
  assert.equal(await s.get('topologies', n, 'r1'), undefined, 'nothing was created');
  s.close();
});

test('a 500 without Retry-After fails at once, naming the server, the status and what was being done', async () => {
  const n = ns();
  const s = new KubeStore(kube.storeRef);
  await s.create('topologies', topo('r1', n));
  const remove = kube.double.injectFault({ method: 'PATCH', path: new RegExp(`/namespaces/${n}/topologies/r1/status$`), status: 500, times: 1 });
  try {
    await assert.rejects(s.patchStatus('topologies', n, 'r1', { src_ip: '192.0.2.1' }), reason('Unavailable', /: 500 patching the status of topologies ks\d+\/r1: injected fault 500$/));
  } finally {
    remove();
  }
  assert.equal((await s.get('topologies', n, 'r1'))?.status, undefined, 'the status was not written');
  s.close();
});

test('a 409 on a GWireKObj update (another writer won) is retried on a fresh read: the record lands', async () => {
  const n = ns();
  const records = new WireRecords(new KubeStore(kube.storeRef), 'node1');
  await records.upsert(item(n, 'p0', 1));
  const remove = kube.double.injectFault({ method: 'PUT', path: /\/gwirekobjs\/node1$/, status: 409, times: 2 });
  try {
    await records.upsert(item(n, 'p1', 2));
  } finally {
    remove();
  }
  assert.deepEqual((await records.list()).filter((i) => i.topo_namespace === n).map((i) => i.local_pod_name).sort(), ['p0', 'p1']);
});

test('a slow API server (300 ms a request): reads, writes and a watch still work', async () => {
  const n = ns();
  const s = new KubeStore(kube.storeRef);
  const events: WatchEvent[] = [];
  const w = s.watch('topologies', n, (e) => events.push(e));
  await w.synced;
  const remove = kube.double.injectFault({ path: new RegExp(`/namespaces/${n}/`), delayMs: 300, times: 1000 });
  try {
    await s.create('topologies', topo('r1', n));
    await s.patchStatus('topologies', n, 'r1', { src_ip: '192.0.2.1' });
    assert.equal(((await s.get('topologies', n, 'r1'))?.status as { src_ip?: string } | undefined)?.src_ip, '192.0.2.1');
    await until('the watch saw both writes', () => events.filter((e) => e.object.metadata.name === 'r1').length >= 2);
  } finally {
    remove();
    w.stop();
    s.close();
  }
});

test('a link\'s mtu (meshnet-ts\'s addition to the schema) is kept by the API server, as the CRD declares it', async () => {
  const n = ns();
  const s = new KubeStore(kube.storeRef);
  const o = topo('mt1', n);
  (o.spec as { links: Record<string, unknown>[] }).links[0]!.mtu = 9000;
  const created = await s.create('topologies', o);
  assert.equal((created.spec as { links: Record<string, unknown>[] }).links[0]!.mtu, 9000);
  s.close();
});
