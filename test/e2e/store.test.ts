// The Store contract, run against every backend: the embedded file store and a real etcd. The
// plugin and the lab rely on exactly these semantics (Kubernetes-like conflicts and errors).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdStore, FileStore, StoreError, openStore, type Store, type StoredObject } from '../../src/store';
import { startEtcd, type TestEtcd } from '../helpers/etcd';

let etcd: TestEtcd;
const dir = mkdtempSync(join(tmpdir(), 'store-test-'));
before(async () => { etcd = await startEtcd(); });
after(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const obj = (name: string, namespace = 'contract'): StoredObject => ({
  apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name, namespace }, spec: { links: [] },
});

function reason(r: StoreError['reason']) {
  return (e: unknown) => e instanceof StoreError && e.reason === r;
}

const backends: [string, () => Store][] = [
  ['file store', () => new FileStore(join(dir, 'files'))],
  ['etcd', () => new EtcdStore([etcd.endpoint])],
];

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
      assert.equal(await s.delete('topologies', 'contract', 'r2'), true);
      assert.equal(await s.delete('topologies', 'contract', 'r2'), false);
      assert.equal(await s.get('topologies', 'contract', 'r2'), undefined);
    });

    test('update replaces spec and keeps status; updateStatus replaces status and keeps spec; stale versions conflict', async () => {
      const s = make();
      const v1 = await s.create('topologies', obj('c1'));
      const v2 = await s.updateStatus('topologies', { ...v1, status: { src_ip: '192.0.2.1' } });
      assert.notEqual(v2.metadata.resourceVersion, v1.metadata.resourceVersion);
      const v3 = await s.update('topologies', { ...v2, spec: { links: [{ uid: 1 }] } });
      assert.deepEqual([v3.spec, v3.status], [{ links: [{ uid: 1 }] }, { src_ip: '192.0.2.1' }]);
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
  });
}

test('openStore: directories, etcd URLs, and a clear error for anything else', () => {
  assert.ok(openStore('/tmp/x') instanceof FileStore);
  assert.ok(openStore('etcd://127.0.0.1:2379,10.0.0.2:2379') instanceof EtcdStore);
  assert.throws(() => openStore('relative'), /expected an absolute directory or etcd:\/\/host:port/);
  assert.throws(() => openStore('etcd://nohostport'), /expected etcd:\/\/host:port/);
});

test('etcd unreachable: the error names the endpoint', async () => {
  const s = new EtcdStore(['http://127.0.0.1:1'], 1000);
  await assert.rejects(s.get('topologies', 'default', 'x'), /etcd 127\.0\.0\.1:1\/v3\/kv\/range: .*ECONNREFUSED/);
});

test('the meshnet plugin on an etcd store: reads Topology objects, records status, plumbs the link, DEL clears it', async () => {
  const { execPlugin } = await import('../../src/cni');
  const { TopologyClient } = await import('../../src/topology');
  const { NetNs, Rtnl, createNamedNetns, deleteNamedNetns } = await import('../../src/kernel');
  const { resolve } = await import('node:path');
  const run = `es${process.pid % 10000}`;
  const topologies = new TopologyClient(new EtcdStore([etcd.endpoint]));
  const topo = (name: string, peer: string, ip: string, peerIp: string) => ({
    apiVersion: 'networkop.co.uk/v1beta1' as const, kind: 'Topology' as const, metadata: { name, namespace: run },
    spec: { links: [{ uid: 1, peer_pod: peer, local_intf: 'eth1', peer_intf: 'eth1', local_ip: ip, peer_ip: peerIp }] },
  });
  await topologies.create(topo('a', 'b', '10.5.0.1/24', '10.5.0.2/24'));
  await topologies.create(topo('b', 'a', '10.5.0.2/24', '10.5.0.1/24'));
  // The plugin runs where it can reach etcd (here: this netns, as on a node whose store is local);
  // the links it makes live only in the two pod namespaces.
  const conf = { cniVersion: '1.0.0', name: 'n', type: 'meshnet', store: `etcd://${etcd.endpoint.slice(7)}`, node_ip: '192.0.2.50' };
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
