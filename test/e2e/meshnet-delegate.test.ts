// Delegate mode (issue 11): the original meshnet's config, meshnet as the master plugin of a
// CNI 0.1.0/0.2.0 config with the reference bridge + host-local as its delegate for eth0. Run as a
// runtime runs it (exec'd in a node netns); results checked field by field in the legacy format.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execPlugin, type Invocation } from '../../src/cni';
import { createNamedNetns, deleteNamedNetns, listNamedNetns } from '../../src/kernel';
import { FileStore } from '../../src/store';
import { TopologyClient, isAlive, type Topology } from '../../src/topology';
import { linkIn, pingsFrom } from '../helpers/netns';
import { startEtcd, type TestEtcd } from '../helpers/etcd';
import { startApiProxy, type ApiProxy } from '../../src/lab/api-proxy';

const BIN = resolve('dist/cni');
const REF = '/usr/lib/cni';
const run = `dg${process.pid % 100000}${randomBytes(2).toString('hex')}`;
const nodeNs = `${run}-node`;
let dir: string;

const topo = (name: string, links: Topology['spec']['links']): Topology => ({
  apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name, namespace: 'default' }, spec: { links },
});

function inv(pod: string, containerId = `${pod}-ctr`): Invocation {
  return {
    containerId, netns: `/var/run/netns/${run}-${pod}`, ifname: 'eth0',
    args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: pod, K8S_POD_INFRA_CONTAINER_ID: containerId },
    path: [BIN, REF], wrapper: ['nsenter', `--net=/var/run/netns/${nodeNs}`, '--'], timeoutMs: 30_000,
  };
}

/** The original meshnet README's config (store and node_ip added: the file store stands in for etcd here). */
function conf(version: string, delegate: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: version, name: 'my_network', type: 'meshnet', store: join(dir, 'store'), node_ip: '192.0.2.11',
    delegate: {
      name: 'dind0', bridge: 'dind0', type: 'bridge', isDefaultGateway: true, ipMasq: true,
      ipam: { type: 'host-local', subnet: '10.244.1.0/24', gateway: '10.244.1.1', dataDir: ipamDir(version) },
      ...delegate,
    },
  };
}

/** host-local's lease directory for one version's run (leases are files named by address). */
const ipamDir = (version: string) => join(dir, `ipam-${version}`);
const ping = (pod: string, ip: string) => pingsFrom(`${run}-${pod}`, ip);

before(async () => {
  assert.ok(existsSync(join(REF, 'bridge')), 'the reference CNI plugins are missing (Debian: containernetworking-plugins)');
  dir = mkdtempSync(join(tmpdir(), `${run}-`));
  createNamedNetns(nodeNs);
  execFileSync('ip', ['-n', nodeNs, 'link', 'set', 'lo', 'up']);
  // A node address and default route, from which the original config (no node_ip) takes the node IP.
  execFileSync('ip', ['-n', nodeNs, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1']);
  execFileSync('ip', ['-n', nodeNs, 'addr', 'add', '192.0.2.11/24', 'dev', 'up0']);
  for (const l of ['up0', 'up1']) execFileSync('ip', ['-n', nodeNs, 'link', 'set', l, 'up']);
  execFileSync('ip', ['-n', nodeNs, 'route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'up0']);
});

after(() => {
  for (const ns of listNamedNetns().filter((n) => n.startsWith(run))) deleteNamedNetns(ns);
  rmSync(dir, { recursive: true, force: true });
});

for (const version of ['0.1.0', '0.2.0']) {
  describe(`CNI ${version}: meshnet with a bridge + host-local delegate`, () => {
    const tag = `v${version.replace(/\./g, '')}`;
    const [p1, p2, p3] = [`${tag}p1`, `${tag}p2`, `${tag}p3`];
    const results = new Map<string, Record<string, unknown>>();
    let client: TopologyClient;
    const leases = () => (existsSync(join(ipamDir(version), 'dind0')) ? readdirSync(join(ipamDir(version), 'dind0')).filter((f) => /^\d/.test(f)).sort() : []);
    before(async () => {
      client = new TopologyClient(new FileStore(join(dir, 'store')));
      // The original README's triangle: 12.12.12.1-2, 13.13.13.1-3, 23.23.23.2-3.
      const l = (uid: number, peer: string, intf: string, peerIntf: string, ip: string, peerIp: string) =>
        ({ uid, peer_pod: peer, local_intf: intf, peer_intf: peerIntf, local_ip: ip, peer_ip: peerIp });
      await client.create(topo(p1, [l(1, p2, 'eth1', 'eth1', '12.12.12.1/24', '12.12.12.2/24'), l(2, p3, 'eth2', 'eth1', '13.13.13.1/24', '13.13.13.3/24')]));
      await client.create(topo(p2, [l(1, p1, 'eth1', 'eth1', '12.12.12.2/24', '12.12.12.1/24'), l(3, p3, 'eth2', 'eth2', '23.23.23.2/24', '23.23.23.3/24')]));
      await client.create(topo(p3, [l(2, p1, 'eth1', 'eth2', '13.13.13.3/24', '13.13.13.1/24'), l(3, p2, 'eth2', 'eth2', '23.23.23.3/24', '23.23.23.2/24')]));
      for (const p of [p1, p2, p3]) {
        createNamedNetns(`${run}-${p}`);
        results.set(p, (await execPlugin(conf(version), 'ADD', inv(p))) as Record<string, unknown>);
      }
    });

    test('ADD answers the delegate\'s result in the legacy format: ip4 with the lease, the gateway and the default route; nothing else', () => {
      const r = results.get(p1)!;
      assert.deepEqual(Object.keys(r).sort(), ['cniVersion', 'dns', 'ip4']);
      assert.equal(r['cniVersion'], version);
      const ip4 = r['ip4'] as { ip: string; gateway: string; routes: { dst: string; gw?: string }[] };
      assert.match(ip4.ip, /^10\.244\.1\.\d+\/24$/);
      assert.equal(ip4.gateway, '10.244.1.1');
      assert.deepEqual(ip4.routes, [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }]);
    });

    test('eth0 comes from the delegate: the pod has the leased address, on a veth to bridge dind0 in the node', () => {
      for (const p of [p1, p2, p3]) {
        const ip = ((results.get(p)!['ip4'] as { ip: string }).ip);
        const out = execFileSync('ip', ['-n', `${run}-${p}`, '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' });
        assert.ok(out.includes(ip), `${p}: ${out}`);
      }
      assert.equal(linkIn(`/var/run/netns/${nodeNs}`, 'dind0')?.kind, 'bridge');
      assert.equal(leases().length, 3);
    });

    test('the triangle\'s links pass traffic, and eth0 reaches the other pods through the bridge', () => {
      assert.ok(ping(p1, '12.12.12.2') && ping(p1, '13.13.13.3') && ping(p2, '23.23.23.3'));
      assert.ok(ping(p1, (results.get(p2)!['ip4'] as { ip: string }).ip.split('/')[0]!));
    });

    test('DEL removes the pod\'s links, its eth0 and its address lease, and marks it not alive', async () => {
      const before = leases().length;
      await execPlugin(conf(version), 'DEL', inv(p3));
      assert.equal(leases().length, before - 1);
      assert.equal(linkIn(`/var/run/netns/${run}-${p3}`, 'eth0'), undefined);
      assert.equal(linkIn(`/var/run/netns/${run}-${p3}`, 'eth1'), undefined);
      assert.equal(linkIn(`/var/run/netns/${run}-${p1}`, 'eth2'), undefined, 'the veth to p1 went with it');
      assert.equal(isAlive((await client.get('default', p3))!), false);
    });

    test('DEL runs the delegate even when meshnet has nothing to remove (a pod without a Topology)', async () => {
      const loner = `${tag}x`;
      createNamedNetns(`${run}-${loner}`);
      await execPlugin(conf(version), 'ADD', inv(loner));
      const before = leases().length;
      await execPlugin(conf(version), 'DEL', inv(loner));
      assert.equal(leases().length, before - 1);
      assert.equal(linkIn(`/var/run/netns/${run}-${loner}`, 'eth0'), undefined);
    });

    test('a delegate ADD that succeeded is undone when meshnet then fails: no eth0, no lease, the pod not alive', async () => {
      const p5 = `${tag}p5`;
      createNamedNetns(`${run}-${p5}`);
      // A macvlan to a host interface the node does not have: meshnet fails after the delegate.
      await client.create(topo(p5, [{ uid: 8, peer_pod: 'localhost', local_intf: 'eth8', peer_intf: 'nope0' }]));
      const before = leases().length;
      await assert.rejects(execPlugin(conf(version), 'ADD', inv(p5)), /host interface "nope0" \(peer_intf\) does not exist/);
      assert.equal(leases().length, before);
      assert.equal(linkIn(`/var/run/netns/${run}-${p5}`, 'eth0'), undefined);
      assert.equal(isAlive((await client.get('default', p5))!), false);
    });

    test('a failed delegate ADD leaves nothing: no eth0, no lease, no link, the pod not alive', async () => {
      const p4 = `${tag}p4`;
      createNamedNetns(`${run}-${p4}`);
      await client.create(topo(p4, [{ uid: 9, peer_pod: p1, local_intf: 'eth9', peer_intf: 'eth9' }]));
      const before = leases().length;
      // An IPAM range with no free address: host-local fails after bridge made the veth.
      await assert.rejects(execPlugin(conf(version, { ipam: { type: 'host-local', subnet: '10.245.0.0/30', rangeStart: '10.245.0.9', rangeEnd: '10.245.0.9', dataDir: ipamDir(version) } }), 'ADD', inv(p4)));
      assert.equal(leases().length, before);
      assert.equal(linkIn(`/var/run/netns/${run}-${p4}`, 'eth0'), undefined);
      assert.equal(linkIn(`/var/run/netns/${run}-${p4}`, 'eth9'), undefined);
      assert.equal(isAlive((await client.get('default', p4))!), false);
    });
  });
}

test('a delegate in a chain (an ADD with prevResult) or of meshnet itself is refused, naming "delegate"', async () => {
  const p = `${run.slice(0, 6)}z`;
  createNamedNetns(`${run}-${p}`);
  const chained = { ...conf('0.3.0'), prevResult: { cniVersion: '0.3.0', dns: {} } };
  await assert.rejects(execPlugin(chained, 'ADD', inv(p)), /"delegate" is for meshnet as the only plugin/);
  await assert.rejects(execPlugin(conf('0.2.0', { type: 'meshnet' }), 'ADD', inv(p)), /"delegate\.type" must be another plugin than meshnet/);
});

// The original README's config exactly (etcd_host/etcd_port: the test's etcd), against a real etcd
// in the original layout: links uploaded with etcdctl as /<pod>/links, state read back with etcdctl.
describe('the original meshnet config with its private etcd (etcd_host, etcd_port)', () => {
  let etcd: TestEtcd;
  let proxy: ApiProxy;
  let port: string;
  const pods = ['pod1', 'pod2', 'pod3'].map((p) => ({ name: p, ns: `${run}-e${p}` }));
  const etcdctl = (...args: string[]) => spawnSync('etcdctl', [`--endpoints=${etcd.endpoint}`, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
  const original = () => ({
    cniVersion: '0.1.0', name: 'my_network', type: 'meshnet', etcd_host: '127.0.0.1', etcd_port: port,
    delegate: { name: 'dind0', bridge: 'dind0', type: 'bridge', isDefaultGateway: true, ipMasq: true,
      ipam: { type: 'host-local', subnet: '10.244.1.0/24', gateway: '10.244.1.1', dataDir: ipamDir('etcd') } },
  });
  const invPod = (p: string) => ({ ...inv(p), netns: `/var/run/netns/${run}-e${p}`,
    args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: p, K8S_POD_INFRA_CONTAINER_ID: `${p}-ctr` } });
  const results = new Map<string, Record<string, unknown>>();

  before(async () => {
    etcd = await startEtcd();
    port = new URL(etcd.endpoint).port;
    // The plugin runs in the node's netns: the test's etcd (host loopback) is reached there on the
    // same address, as the lab reaches services on the host.
    proxy = await startApiProxy({ ip: '127.0.0.1', port: Number(port) }, [`/var/run/netns/${nodeNs}`]);
    // What the original upload scripts did: one etcdctl put per pod.
    const links: Record<string, unknown[]> = {
      pod1: [{ uid: 1, peer_pod: 'pod2', local_intf: 'eth1', local_ip: '12.12.12.1/24', peer_intf: 'eth1', peer_ip: '12.12.12.2/24' },
        { uid: 2, peer_pod: 'pod3', local_intf: 'eth2', local_ip: '13.13.13.1/24', peer_intf: 'eth1', peer_ip: '13.13.13.3/24' }],
      pod2: [{ uid: 1, peer_pod: 'pod1', local_intf: 'eth1', local_ip: '12.12.12.2/24', peer_intf: 'eth1', peer_ip: '12.12.12.1/24' },
        { uid: 3, peer_pod: 'pod3', local_intf: 'eth2', local_ip: '23.23.23.2/24', peer_intf: 'eth2', peer_ip: '23.23.23.3/24' }],
      pod3: [{ uid: 2, peer_pod: 'pod1', local_intf: 'eth1', local_ip: '13.13.13.3/24', peer_intf: 'eth2', peer_ip: '13.13.13.1/24' },
        { uid: 3, peer_pod: 'pod2', local_intf: 'eth2', local_ip: '23.23.23.3/24', peer_intf: 'eth2', peer_ip: '23.23.23.2/24' }],
    };
    for (const [pod, l] of Object.entries(links)) assert.equal(etcdctl('put', `/${pod}/links`, JSON.stringify(l)).status, 0);
    for (const p of pods) {
      createNamedNetns(p.ns);
      results.set(p.name, (await execPlugin(original(), 'ADD', invPod(p.name))) as Record<string, unknown>);
    }
  });

  after(async () => {
    await proxy?.close();
    await etcd?.stop();
  });

  test('the triangle from /<pod>/links passes traffic, and eth0 comes from the delegate', () => {
    assert.ok(pingsFrom(pods[0]!.ns, '12.12.12.2') && pingsFrom(pods[0]!.ns, '13.13.13.3') && pingsFrom(pods[1]!.ns, '23.23.23.3'));
    assert.match((results.get('pod1')!['ip4'] as { ip: string }).ip, /^10\.244\.1\.\d+\/24$/);
  });

  test('etcdctl get --prefix /pod1 shows the pod\'s state as the original layout keeps it: src_ip and net_ns beside links', () => {
    const r = etcdctl('get', '--prefix', '/pod1');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const kv = new Map<string, string>();
    for (let i = 0; i + 1 < lines.length; i += 2) kv.set(lines[i]!, lines[i + 1]!);
    assert.deepEqual([...kv.keys()].sort(), ['/pod1/container_id', '/pod1/links', '/pod1/net_ns', '/pod1/src_ip']);
    assert.equal(kv.get('/pod1/src_ip'), '192.0.2.11', 'the node\'s IP, from its default route (the config names none)');
    assert.equal(kv.get('/pod1/net_ns'), `/var/run/netns/${pods[0]!.ns}`);
  });

  test('DEL removes the pod\'s links and eth0 lease, and its src_ip and net_ns keys', async () => {
    const leaseDir = join(ipamDir('etcd'), 'dind0');
    const before = readdirSync(leaseDir).filter((f) => /^\d/.test(f)).length;
    await execPlugin(original(), 'DEL', invPod('pod3'));
    assert.equal(readdirSync(leaseDir).filter((f) => /^\d/.test(f)).length, before - 1);
    assert.equal(linkIn(`/var/run/netns/${pods[2]!.ns}`, 'eth1'), undefined);
    assert.equal(linkIn(`/var/run/netns/${pods[0]!.ns}`, 'eth2'), undefined);
    assert.deepEqual(etcdctl('get', '--prefix', '--keys-only', '/pod3').stdout.split('\n').filter(Boolean), ['/pod3/links']);
  });
});
