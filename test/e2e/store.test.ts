// The Store contract, run against every backend: the embedded file store, a real etcd and the
// Kubernetes API (the API-server double with meshnet's CRDs). The plugin, the daemon and the lab
// rely on exactly these semantics (Kubernetes-like conflicts, subresources, patches and watches).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdStore, FileStore, StoreError, openStore, type Store, type StoredObject, type WatchEvent } from '../../src/store';
import { etcdSettings } from '../../src/store/open';
import { TopologyClient } from '../../src/topology';
import { KubeStore } from '../../src/store/kube/kube-store';
import { startEtcd, type TestEtcd } from '../helpers/etcd';
import { startKube, type TestKube } from '../helpers/kube';

let etcd: TestEtcd;
/** etcd as a production cluster runs it: TLS with client certificates required, and user/password auth. */
let secureEtcd: TestEtcd;
let kube: TestKube;
const dir = mkdtempSync(join(tmpdir(), 'store-test-'));
before(async () => {
  etcd = await startEtcd();
  secureEtcd = await startEtcd({ tls: true, auth: true, tokenTtlSeconds: 2 });
  kube = await startKube();
  kube.namespace('contract');
  kube.namespace('other');
  kube.namespace('watched');
});
after(async () => {
  await etcd?.stop();
  await secureEtcd?.stop();
  await kube?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const LINK = { uid: 1, peer_pod: 'r2', local_intf: 'eth1', peer_intf: 'eth1' };
const obj = (name: string, namespace = 'contract'): StoredObject => ({
  apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name, namespace }, spec: { links: [] },
});

function reason(r: StoreError['code']) {
  return (e: unknown) => e instanceof StoreError && e.code === r;
}

/** The store reference for the secure etcd, as a user writes it in --store or the CNI config's store. */
function secureRef(over: Record<string, string | undefined> = {}): string {
  const pki = secureEtcd.pki!, auth = secureEtcd.auth!;
  const q = { cacert: pki.ca, cert: pki.client.cert, key: pki.client.key, user: auth.user, 'password-file': auth.passwordFile, ...over };
  return `etcds://${secureEtcd.endpoint.slice('https://'.length)}?${Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join('&')}`;
}

function secureStore(over: Record<string, string | undefined> = {}): EtcdStore {
  const { endpoints, options } = etcdSettings(secureRef(over));
  return new EtcdStore(endpoints, options);
}

const backends: [string, () => Store][] = [
  ['file store', () => new FileStore(join(dir, 'files'))],
  ['etcd', () => new EtcdStore([etcd.endpoint])],
  ['etcd over TLS with a client certificate and user/password auth', () => secureStore()],
  ['kubernetes', () => new KubeStore(kube.storeRef)],
];

/** Collects a watch's events; `until` waits for a condition on them. */
function collect(s: Store, namespace?: string) {
  const events: WatchEvent[] = [];
  const w = s.watch('topologies', namespace, (e) => events.push(e));
  return {
    events, w,
    names: () => events.map((e) => `${e.type} ${e.object.metadata.name}`),
    async until(what: string, f: () => boolean, ms = 5000) {
      const end = Date.now() + ms;
      while (!f()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; events: ${events.map((e) => `${e.type} ${e.object.metadata.name}`).join(', ')}`);
        await sleep(20);
      }
    },
  };
}

for (const [label, make] of backends) {
  describe(`Store contract: ${label}`, () => {
    test('create, get, list by namespace and across namespaces, delete', async () => {
      const s = make();
      const created = await s.create('topologies', obj('r1'));
      assert.ok(created.metadata.resourceVersion && created.metadata.uid && created.metadata.creationTimestamp);
      await s.create('topologies', obj('r2'));
      await s.create('topologies', obj('r1', 'other'));
      await assert.rejects(s.create('topologies', obj('r1')), reason('AlreadyExists'));
      assert.deepEqual((await s.get('topologies', 'contract', 'r1'))?.spec, { links: [] });
      assert.equal(await s.get('topologies', 'contract', 'nope'), undefined);
      assert.deepEqual((await s.list('topologies', 'contract')).map((o) => o.metadata.name), ['r1', 'r2']);
      assert.deepEqual((await s.list('topologies')).map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort(), ['contract/r1', 'contract/r2', 'other/r1']);
      assert.deepEqual((await s.list('topologies', undefined, 'r1')).map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort(), ['contract/r1', 'other/r1'], 'by name across namespaces');
      assert.equal(await s.delete('topologies', 'contract', 'r2'), true);
      assert.equal(await s.delete('topologies', 'contract', 'r2'), false);
      assert.equal(await s.get('topologies', 'contract', 'r2'), undefined);
    });

    test('update replaces spec and keeps status; updateStatus replaces status and keeps spec; stale versions conflict', async () => {
      const s = make();
      const v1 = await s.create('topologies', obj('c1'));
      const v2 = await s.updateStatus('topologies', { ...v1, status: { src_ip: '192.0.2.1' } });
      assert.notEqual(v2.metadata.resourceVersion, v1.metadata.resourceVersion);
      const v3 = await s.update('topologies', { ...v2, spec: { links: [LINK] } });
      assert.deepEqual([v3.spec, v3.status], [{ links: [LINK] }, { src_ip: '192.0.2.1' }]);
      assert.equal(v3.metadata.uid, v1.metadata.uid, 'uid is kept');
      // Based on an old resourceVersion: Conflict, and nothing changes.
      await assert.rejects(s.updateStatus('topologies', { ...v1, status: { src_ip: 'x' } }), reason('Conflict'));
      await assert.rejects(s.update('topologies', { ...v2, spec: {} }), reason('Conflict'));
      assert.deepEqual((await s.get('topologies', 'contract', 'c1'))?.status, { src_ip: '192.0.2.1' });
      // Without a resourceVersion the write is unconditional, like a full update.
      const { resourceVersion: _rv, ...meta } = v3.metadata;
      await s.updateStatus('topologies', { ...v3, metadata: meta, status: {} });
      await assert.rejects(s.update('topologies', obj('missing')), reason('NotFound'));
    });

    test('concurrent status writers: exactly one of two writes based on the same version wins', async () => {
      const s = make();
      const base = await s.create('topologies', obj('race'));
      const results = await Promise.allSettled([
        s.updateStatus('topologies', { ...base, status: { container_id: 'a' } }),
        s.updateStatus('topologies', { ...base, status: { container_id: 'b' } }),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results));
      assert.ok(results.some((r) => r.status === 'rejected' && reason('Conflict')(r.reason)));
    });

    test('bad names are refused before anything is written', async () => {
      const s = make();
      await assert.rejects(s.create('topologies', obj('Bad_Name')), reason('Invalid'));
      await assert.rejects(s.get('topologies', '../etc', 'x'), reason('Invalid'));
    });

    test('patchStatus merges into the status: objects merge, null removes, a stale resourceVersion conflicts', async () => {
      const s = make();
      const v1 = await s.create('topologies', obj('p1'));
      const v2 = await s.patchStatus('topologies', 'contract', 'p1', { src_ip: '192.0.2.1', net_ns: '/var/run/netns/a' });
      assert.deepEqual(v2.status, { src_ip: '192.0.2.1', net_ns: '/var/run/netns/a' });
      const v3 = await s.patchStatus('topologies', 'contract', 'p1', { net_ns: null, container_id: 'c1' });
      assert.deepEqual(v3.status, { src_ip: '192.0.2.1', container_id: 'c1' });
      assert.deepEqual(v3.spec, { links: [] }, 'spec untouched');
      await assert.rejects(s.patchStatus('topologies', 'contract', 'p1', { src_ip: 'x' }, v1.metadata.resourceVersion), reason('Conflict'));
      assert.equal((await s.patchStatus('topologies', 'contract', 'p1', { src_ip: '192.0.2.2' }, v3.metadata.resourceVersion)).status && 'ok', 'ok');
      await assert.rejects(s.patchStatus('topologies', 'contract', 'nope', { src_ip: 'x' }), reason('NotFound'));
    });

    test('a status subresource (Topology): create drops status, update keeps it; without one (GWireKObj) status is part of the object', async () => {
      const s = make();
      const t = await s.create('topologies', { ...obj('sub1'), status: { src_ip: '192.0.2.9' } });
      assert.equal(t.status, undefined, 'status ignored on create');
      const g = { apiVersion: 'networkop.co.uk/v1beta1', kind: 'GWireKObj', metadata: { name: 'node1', namespace: 'contract' }, spec: {}, status: { grpcWireItems: [{ link_id: 3, wire_iface_id_on_peer_node: 9007199254740991 }] } };
      const g1 = await s.create('gwirekobjs', g);
      assert.deepEqual(g1.status, g.status, 'status kept on create');
      const g2 = await s.update('gwirekobjs', { ...g1, status: { grpcWireItems: [] } });
      assert.deepEqual(g2.status, { grpcWireItems: [] }, 'a full update replaces status');
      await assert.rejects(s.updateStatus('gwirekobjs', g2), reason('Invalid'));
      assert.equal((await s.get('gwirekobjs', 'contract', 'node1'))?.metadata.resourceVersion, g2.metadata.resourceVersion);
      await s.delete('gwirekobjs', 'contract', 'node1');
    });

    test('watch: existing objects arrive as ADDED, then every change in order; stop() ends it', async () => {
      const s = make();
      await s.create('topologies', obj('w1', 'watched'));
      const c = collect(s, 'watched');
      await c.w.synced;
      assert.deepEqual(c.names(), ['ADDED w1']);
      await s.create('topologies', obj('w2', 'watched'));
      await c.until('w2 added', () => c.names().includes('ADDED w2'));
      await s.patchStatus('topologies', 'watched', 'w1', { src_ip: '192.0.2.1' });
      await c.until('w1 modified', () => c.names().includes('MODIFIED w1'));
      assert.deepEqual(c.events.at(-1)!.object.status, { src_ip: '192.0.2.1' });
      await s.delete('topologies', 'watched', 'w2');
      await c.until('w2 deleted', () => c.names().includes('DELETED w2'));
      assert.deepEqual(c.names(), ['ADDED w1', 'ADDED w2', 'MODIFIED w1', 'DELETED w2']);
      await s.create('topologies', obj('w3', 'contract'));
      c.w.stop();
      await s.create('topologies', obj('w4', 'watched'));
      await sleep(300);
      assert.ok(!c.names().some((n) => n.endsWith('w3') || n.endsWith('w4')), `other namespaces and changes after stop() are not delivered: ${c.names().join(', ')}`);
      await s.delete('topologies', 'watched', 'w1');
      await s.delete('topologies', 'watched', 'w4');
    });
  });
}

test('openStore: directories, etcd URLs, kubernetes, and a clear error for anything else', async () => {
  assert.ok(await openStore('/tmp/x') instanceof FileStore);
  assert.ok(await openStore('etcd://127.0.0.1:2379,10.0.0.2:2379') instanceof EtcdStore);
  assert.ok(await openStore(kube.storeRef) instanceof KubeStore);
  await assert.rejects(openStore('relative'), /expected an absolute directory, etcd:\/\/host:port.*kubernetes/);
  await assert.rejects(openStore('etcd://nohostport'), /expected etcd:\/\/host:port/);
  await assert.rejects(openStore('kubernetes:relative/path'), /kubernetes:\/absolute\/path\/to\/kubeconfig/);
});

test('etcd unreachable: the error names the endpoint', async () => {
  const s = new EtcdStore(['http://127.0.0.1:1'], { timeoutMs: 1000 });
  await assert.rejects(s.get('topologies', 'default', 'x'), /etcd 127\.0\.0\.1:1\/v3\/kv\/range: .*ECONNREFUSED/);
});

for (const secure of [false, true]) test(`the meshnet plugin on an etcd store${secure ? ' over TLS with auth (etcds://...?cacert=&cert=&key=&user=&password-file=)' : ''}: reads Topology objects, records status, plumbs the link, DEL clears it`, async () => {
  const { execPlugin } = await import('../../src/cni');
  const { NetNs, Rtnl, createNamedNetns, deleteNamedNetns } = await import('../../src/kernel');
  const { resolve } = await import('node:path');
  const run = `es${secure ? 's' : ''}${process.pid % 10000}`;
  const topologies = new TopologyClient(secure ? secureStore() : new EtcdStore([etcd.endpoint]));
  const topo = (name: string, peer: string, ip: string, peerIp: string) => ({
    apiVersion: 'networkop.co.uk/v1beta1' as const, kind: 'Topology' as const, metadata: { name, namespace: run },
    spec: { links: [{ uid: 1, peer_pod: peer, local_intf: 'eth1', peer_intf: 'eth1', local_ip: ip, peer_ip: peerIp }] },
  });
  await topologies.create(topo('a', 'b', '10.5.0.1/24', '10.5.0.2/24'));
  await topologies.create(topo('b', 'a', '10.5.0.2/24', '10.5.0.1/24'));
  // The plugin runs where it can reach etcd (here: this netns, as on a node whose store is local);
  // the links it makes live only in the two pod namespaces.
  const conf = { cniVersion: '1.0.0', name: 'n', type: 'meshnet', store: secure ? secureRef() : `etcd://${etcd.endpoint.slice(7)}`, node_ip: '192.0.2.50' };
  const inv = (pod: string) => ({
    containerId: `c-${pod}`, netns: `/var/run/netns/${run}-${pod}`, ifname: 'eth0', path: [resolve('dist/cni')],
    args: { K8S_POD_NAMESPACE: run, K8S_POD_NAME: pod },
  });
  try {
    createNamedNetns(`${run}-a`);
    createNamedNetns(`${run}-b`);
    await execPlugin(conf, 'ADD', inv('a'));
    await execPlugin(conf, 'ADD', inv('b'));
    const st = (await topologies.get(run, 'a'))!.status!;
    assert.deepEqual([st.src_ip, st.net_ns, st.container_id], ['192.0.2.50', `/var/run/netns/${run}-a`, 'c-a']);
    const ns = NetNs.open(`${run}-a`);
    const rt = Rtnl.open(ns);
    try {
      assert.equal(rt.link('eth1')?.kind, 'veth');
      assert.deepEqual(rt.addrs('eth1').filter((x) => x.family === 4).map((x) => x.cidr), ['10.5.0.1/24']);
    } finally {
      rt.close();
      ns.close();
    }
    await execPlugin(conf, 'DEL', inv('a'));
    assert.equal((await topologies.get(run, 'a'))!.status?.net_ns, undefined, 'DEL cleared the status in etcd');
    await execPlugin(conf, 'DEL', inv('b'));
  } finally {
    deleteNamedNetns(`${run}-a`);
    deleteNamedNetns(`${run}-b`);
    await topologies.delete(run, 'a');
    await topologies.delete(run, 'b');
  }
});

test('etcd over TLS: a client without a certificate is refused by etcd, and the error says so, naming the endpoint', async () => {
  const s = secureStore({ cert: undefined, key: undefined });
  await assert.rejects(s.get('topologies', 'default', 'x'), (e: unknown) => e instanceof StoreError && e.code === 'Unavailable'
    && new RegExp(`^etcd 127\\.0\\.0\\.1:${new URL(secureEtcd.endpoint).port}/v3/auth/authenticate: TLS: etcd refused this client \\(no or untrusted client certificate: cert, key\\)`).test(e.message));
});

test('etcd over TLS: a client certificate from another CA is refused', async () => {
  const st = secureEtcd.pki!.stranger;
  await assert.rejects(secureStore({ cert: st.cert, key: st.key }).get('topologies', 'default', 'x'), /TLS: etcd refused this client/);
});

test('etcd over TLS with auth on: a client certificate with a Common Name (which etcd refuses on its gateway) gets an error that says what to use instead', async () => {
  const named = secureEtcd.pki!.named;
  await assert.rejects(secureStore({ cert: named.cert, key: named.key }).get('topologies', 'default', 'x'), (e: unknown) => e instanceof StoreError && e.code === 'Unauthorized'
    && /refuses, on its JSON gateway .*a client certificate that has a Common Name while its auth is on: use one without \(scripts\/make-certs\.sh with NO_CN=1\), or no client certificate, with user and password-file/.test(e.message));
});

test("etcd over TLS: a CA that did not sign etcd's certificate is refused, naming cacert", async () => {
  await assert.rejects(secureStore({ cacert: secureEtcd.pki!.stranger.ca }).get('topologies', 'default', 'x'),
    /TLS: etcd's certificate is not signed by the CA given \(cacert\)/);
});

test('etcd auth: a wrong password is Unauthorized, naming the user, and nothing is written', async () => {
  const bad = join(dir, 'wrong-password');
  writeFileSync(bad, 'not-it\n');
  const s = secureStore({ 'password-file': bad });
  await assert.rejects(s.create('topologies', obj('never', 'auth')), (e: unknown) => e instanceof StoreError && e.code === 'Unauthorized'
    && /^etcd: user meshnet-ts: etcd 127\.0\.0\.1:\d+\/v3\/auth\/authenticate: .*authentication failed/.test(e.message));
  assert.equal(await secureStore().get('topologies', 'auth', 'never'), undefined);
});

test('etcd auth: an expired token is renewed without the caller noticing (token TTL 2 s), for calls and for the watch', async () => {
  const s = secureStore();
  const w = collect(s, 'ttl');
  await s.create('topologies', obj('t1', 'ttl'));
  await w.until('t1', () => w.names().includes('ADDED t1') || w.names().includes('MODIFIED t1'));
  await sleep(4500); // past the TTL: etcd forgets the token
  await s.create('topologies', obj('t2', 'ttl'));
  assert.equal((await s.get('topologies', 'ttl', 't2'))?.metadata.name, 't2');
  await w.until('t2', () => w.names().some((n) => n.endsWith(' t2')));
  w.w.stop();
  s.close();
});


test('etcd stopped and started again: calls in between fail naming the endpoint, a watch carries on afterwards without losing a change, and the plugin\'s ADD fails cleanly then succeeds', async () => {
  const { execPlugin } = await import('../../src/cni');
  const { NetNs, Rtnl, createNamedNetns, deleteNamedNetns } = await import('../../src/kernel');
  const { resolve } = await import('node:path');
  const run = `eh${process.pid % 10000}`;
  const s = new EtcdStore([etcd.endpoint], { timeoutMs: 1000 });
  const topologies = new TopologyClient(s);
  await topologies.create({ apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: 'a', namespace: run },
    spec: { links: [{ uid: 1, peer_pod: 'a', local_intf: 'e1', peer_intf: 'e2', local_ip: '10.6.0.1/30', peer_ip: '10.6.0.2/30' }] } });
  const w = collect(new EtcdStore([etcd.endpoint]), run);
  await w.w.synced;
  const conf = { cniVersion: '1.0.0', name: 'n', type: 'meshnet', store: `etcd://${etcd.endpoint.slice(7)}`, node_ip: '192.0.2.51' };
  const inv = { containerId: 'c-a', netns: `/var/run/netns/${run}-a`, ifname: 'eth0', path: [resolve('dist/cni')], args: { K8S_POD_NAMESPACE: run, K8S_POD_NAME: 'a' } };
  const links = () => {
    const ns = NetNs.open(`${run}-a`);
    const rt = Rtnl.open(ns);
    try {
      return rt.links().map((l) => l.name).filter((n) => n !== 'lo').sort();
    } finally {
      rt.close();
      ns.close();
    }
  };
  createNamedNetns(`${run}-a`);
  try {
    await etcd.halt();
    await assert.rejects(s.get('topologies', run, 'a'), reason('Unavailable'));
    await assert.rejects(s.get('topologies', run, 'a'), /^StoreError: etcd 127\.0\.0\.1:\d+\/v3\/kv\/range: .*ECONNREFUSED/);
    await assert.rejects(execPlugin(conf, 'ADD', inv), /etcd 127\.0\.0\.1:\d+\/v3\/kv\/range: .*ECONNREFUSED/);
    assert.deepEqual(links(), [], 'nothing was made while etcd was down');
    await etcd.resume();
    await topologies.create({ apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: 'b', namespace: run }, spec: { links: [] } });
    await w.until('the watch saw the object created after the restart', () => w.names().some((n) => n.endsWith(' b')));
    await execPlugin(conf, 'ADD', inv);
    assert.deepEqual(links(), ['e1', 'e2']);
    await execPlugin(conf, 'DEL', inv);
  } finally {
    w.w.stop();
    deleteNamedNetns(`${run}-a`);
    await topologies.delete(run, 'a').catch(() => undefined);
    await topologies.delete(run, 'b').catch(() => undefined);
    s.close();
  }
});
