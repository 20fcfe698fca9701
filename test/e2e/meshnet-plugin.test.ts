// The meshnet binary exec'd as a runtime execs it, against real namespaces, for every CNI version.
import { test, describe, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  CHAINED_VERSIONS, execPlugin, formatResult, type CniResult, type CniVersion, type Invocation,
} from '../../src/cni';
import { NetNs, createNamedNetns, deleteNamedNetns, listNamedNetns, txOffloadsEnabled, withNetns } from '../../src/kernel';
import { FileStore } from '../../src/store';
import { TopologyClient, type Topology } from '../../src/topology';
import { rejectsWith } from '../helpers/cni';
import { linkIn, linksWithAddrs, pingsFrom } from '../helpers/netns';

const BIN = resolve('dist/cni');
const run = `mp${process.pid % 100000}${randomBytes(2).toString('hex')}`;
const nodeNs = `${run}-node`;
let dir: string;

const topo = (name: string, links: Topology['spec']['links']): Topology => ({
  apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name, namespace: 'default' }, spec: { links },
});

const prevResult = (version: CniVersion): CniResult => ({
  cniVersion: version,
  interfaces: [{ name: 'eth0', mac: '0a:58:0a:f4:00:05', sandbox: '/var/run/netns/x' }],
  ips: [{ address: '10.244.0.5/24', gateway: '10.244.0.1', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.0.1' }],
  dns: {},
});

function inv(pod: string, containerId: string, netns = `/var/run/netns/${run}-${pod}`): Invocation {
  return {
    containerId, netns, ifname: 'eth0',
    args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: pod, K8S_POD_INFRA_CONTAINER_ID: containerId },
    path: [BIN], wrapper: ['nsenter', `--net=/var/run/netns/${nodeNs}`, '--'], timeoutMs: 30_000,
  };
}

function conf(version: CniVersion, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: version, name: 'meshnet-test', type: 'meshnet', store: join(dir, 'store'), node_ip: '192.0.2.11',
    prevResult: formatResult(prevResult(version), version), ...extra,
  };
}

function links(pod: string): Map<string, { kind?: string; up: boolean; peerIndex?: number; index: number; group: number; addrs: string[] }> {
  return new Map(linksWithAddrs(`${run}-${pod}`).filter((l) => l.name !== 'lo').map((l) => [l.name, {
    kind: l.kind, up: l.up, peerIndex: l.peerIndex, index: l.index, group: l.group, addrs: l.addrs,
  }]));
}

function offloads(pod: string, intf: string): { txCsum: boolean; tso: boolean } {
  const ns = NetNs.open(`${run}-${pod}`);
  try {
    const o = withNetns(ns, () => txOffloadsEnabled(intf));
    return { txCsum: o.txCsum, tso: o.tso };
  } finally {
    ns.close();
  }
}

function ping(pod: string, ip: string): boolean {
  return pingsFrom(`${run}-${pod}`, ip);
}


before(async () => {
  assert.ok(existsSync(join(BIN, 'meshnet')), 'dist/cni/meshnet missing: run npm run build');
  dir = mkdtempSync(join(tmpdir(), `${run}-`));
  createNamedNetns(nodeNs);
});

after(() => {
  for (const ns of listNamedNetns().filter((n) => n.startsWith(run))) deleteNamedNetns(ns);
  rmSync(dir, { recursive: true, force: true });
});

/** Fresh pods and Topology objects for one version's run: r1 –eth1/eth1– r2, plus a self link in r1. */
async function setup(tag: string): Promise<{ a: string; b: string; client: TopologyClient }> {
  const a = `${tag}a`;
  const b = `${tag}b`;
  createNamedNetns(`${run}-${a}`);
  createNamedNetns(`${run}-${b}`);
  const client = new TopologyClient(new FileStore(join(dir, 'store')));
  await client.create(topo(a, [
    { uid: 1, peer_pod: b, local_intf: 'eth1', peer_intf: 'eth1', local_ip: '12.12.12.1/24', peer_ip: '12.12.12.2/24' },
    { uid: 2, peer_pod: a, local_intf: 'lo1', peer_intf: 'lo2' },
  ]));
  await client.create(topo(b, [
    { uid: 1, peer_pod: a, local_intf: 'eth1', peer_intf: 'eth1', local_ip: '12.12.12.2/24', peer_ip: '12.12.12.1/24' },
  ]));
  return { a, b, client };
}

// Per CNI version, a pair of pods through the stages of its life (first pod up, second pod up,
// repeated ADD, CHECK, stale DEL, DEL, the pod back, DEL without a netns). Each test makes its own
// pair and brings it to the stage it needs, so it stands alone (--test-name-pattern runs it).
// Chained after a main plugin, on its prevResult: CNI 0.3.0 and newer (0.1.0/0.2.0 had no chains).
let pairs = 0;
for (const version of CHAINED_VERSIONS) {
  describe(`CNI ${version}`, () => {
    /** A fresh pair r1 –eth1– r2 (plus r1's self link), with the pods in `up` ADDed in that order; removed after the test. */
    async function pair(t: TestContext, up: ('a' | 'b')[] = []) {
      const { a, b, client } = await setup(`v${version.replace(/\./g, '')}p${++pairs}`);
      t.after(() => {
        for (const p of [a, b]) if (listNamedNetns().includes(`${run}-${p}`)) deleteNamedNetns(`${run}-${p}`);
      });
      const ids = { a: randomBytes(8).toString('hex'), b: randomBytes(8).toString('hex') };
      const pods = { a, b };
      const add = (which: 'a' | 'b') => execPlugin(conf(version), 'ADD', inv(pods[which], ids[which]));
      const del = (which: 'a' | 'b', id = ids[which]) => execPlugin(conf(version), 'DEL', inv(pods[which], id));
      for (const which of up) await add(which);
      return { a, b, client, ids, add, del };
    }

    test('the first pod\'s ADD returns prevResult untouched', async (t) => {
      const p = await pair(t);
      assert.deepEqual(await p.add('a'), formatResult(prevResult(version), version));
    });

    test('the first pod gets its self link at once; the link to its peer waits for the peer', async (t) => {
      const { a } = await pair(t, ['a']);
      const la = links(a);
      assert.ok(!la.has('eth1'), 'eth1 must wait for the peer pod');
      assert.equal(la.get('lo1')?.kind, 'veth');
      assert.equal(la.get('lo1')?.peerIndex, la.get('lo2')?.index, 'self link ends are paired');
    });

    test('ADD records the pod alive: node IP, netns and sandbox id', async (t) => {
      const { a, client, ids } = await pair(t, ['a']);
      const st = (await client.get('default', a))!.status!;
      assert.deepEqual([st.src_ip, st.net_ns, st.container_id], ['192.0.2.11', `/var/run/netns/${run}-${a}`, ids.a]);
    });

    test('the second pod\'s ADD makes the shared link in both pods: paired, addressed, up, in meshnet\'s device group', async (t) => {
      const p = await pair(t, ['a']);
      await p.add('b');
      const la = links(p.a);
      const lb = links(p.b);
      assert.equal(la.get('eth1')?.kind, 'veth');
      assert.equal(la.get('eth1')?.peerIndex, lb.get('eth1')?.index, 'r1:eth1 is paired with r2:eth1');
      assert.equal(lb.get('eth1')?.peerIndex, la.get('eth1')?.index);
      assert.deepEqual([la.get('eth1')?.addrs, lb.get('eth1')?.addrs], [['12.12.12.1/24'], ['12.12.12.2/24']]);
      assert.ok(la.get('eth1')?.up && lb.get('eth1')?.up);
      assert.deepEqual([la.get('eth1')?.group, lb.get('eth1')?.group], [0x6d6e, 0x6d6e]);
    });

    test('traffic crosses the link', async (t) => {
      const { a } = await pair(t, ['a', 'b']);
      assert.ok(ping(a, '12.12.12.2'), 'ping across the link');
    });

    test('tx offloads are off on both ends by default, as upstream', async (t) => {
      const { a, b } = await pair(t, ['a', 'b']);
      assert.deepEqual([offloads(a, 'eth1'), offloads(b, 'eth1')], [{ txCsum: false, tso: false }, { txCsum: false, tso: false }]);
    });

    test('a repeated ADD succeeds and re-creates nothing', async (t) => {
      const p = await pair(t, ['a', 'b']);
      const first = links(p.a).get('eth1')?.index;
      await p.add('a');
      assert.equal(links(p.a).get('eth1')?.index, first, 'the link was not re-created');
    });

    if (version !== '0.3.0' && version !== '0.3.1') {
      test('CHECK passes on a plumbed pod, and fails naming an interface that is down', async (t) => {
        const p = await pair(t, ['a', 'b']);
        await execPlugin(conf(version), 'CHECK', inv(p.a, p.ids.a));
        execFileSync('ip', ['-n', `${run}-${p.b}`, 'link', 'set', 'eth1', 'down']);
        await rejectsWith(execPlugin(conf(version), 'CHECK', inv(p.b, p.ids.b)), 102, /eth1 is down/);
      });
    }

    test('a DEL from a stale sandbox id does nothing', async (t) => {
      const p = await pair(t, ['a', 'b']);
      await p.del('a', 'stale0');
      assert.ok(links(p.a).has('eth1'));
    });

    test('DEL removes the pod\'s meshnet links (the peer\'s end with them) and leaves other interfaces alone', async (t) => {
      const p = await pair(t, ['a', 'b']);
      // An interface meshnet did not make (the main plugin's eth0, say) survives DEL.
      execFileSync('ip', ['-n', `${run}-${p.a}`, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p']);
      await p.del('a');
      assert.ok(!links(p.a).has('eth1') && !links(p.a).has('lo1'), 'DEL removed r1 links');
      assert.ok(links(p.a).has('eth0'), 'DEL left the foreign interface alone');
      assert.ok(!links(p.b).has('eth1'), 'the peer end went with it');
    });

    test('after DEL the pod is no longer alive, and a second DEL succeeds', async (t) => {
      const p = await pair(t, ['a', 'b']);
      await p.del('a');
      assert.equal((await p.client.get('default', p.a))!.status?.net_ns, undefined, 'r1 is no longer alive');
      await p.del('a');
    });

    test('the pod back (ADD again) re-plumbs its link to the still-running peer', async (t) => {
      const p = await pair(t, ['a', 'b']);
      await p.del('a');
      await p.add('a');
      assert.ok(ping(p.b, '12.12.12.1'));
    });

    test('DEL after the pod\'s netns is gone succeeds', async (t) => {
      const p = await pair(t, ['a', 'b']);
      await p.del('b');
      deleteNamedNetns(`${run}-${p.b}`);
      await p.del('b');
    });
  });
}

test('a pod without a Topology passes prevResult through untouched', async () => {
  createNamedNetns(`${run}-plain`);
  const out = await execPlugin(conf('1.0.0'), 'ADD', inv('plain', 'c1'));
  assert.deepEqual(out, formatResult(prevResult('1.0.0'), '1.0.0'));
  assert.deepEqual([...links('plain').keys()], []);
  deleteNamedNetns(`${run}-plain`);
});

test('disable_tx_offloads: false keeps the kernel\'s offloads (Linux routers: ~4x TCP throughput)', async () => {
  const { a, b } = await setup('off');
  const c = conf('1.0.0', { disable_tx_offloads: false });
  await execPlugin(c, 'ADD', inv(a, 'c1'));
  await execPlugin(c, 'ADD', inv(b, 'c2'));
  assert.deepEqual(offloads(a, 'eth1'), { txCsum: true, tso: true });
  assert.deepEqual(offloads(b, 'eth1'), { txCsum: true, tso: true });
  assert.ok(ping(a, '12.12.12.2'));
  await execPlugin(c, 'DEL', inv(a, 'c1'));
  await execPlugin(c, 'DEL', inv(b, 'c2'));
});

test('the config\'s mtu is the MTU of links that set none (both ends), and large packets cross unfragmented', async () => {
  const { a, b } = await setup('mtu');
  const c = conf('1.0.0', { mtu: 9000 });
  await execPlugin(c, 'ADD', inv(a, 'c1'));
  await execPlugin(c, 'ADD', inv(b, 'c2'));
  assert.deepEqual([linkIn(`${run}-${a}`, 'eth1')?.mtu, linkIn(`${run}-${b}`, 'eth1')?.mtu], [9000, 9000]);
  const big = spawnSync('ip', ['netns', 'exec', `${run}-${a}`, 'ping', '-c', '1', '-W', '2', '-M', 'do', '-s', '8972', '12.12.12.2'], { encoding: 'utf8' });
  assert.equal(big.status, 0, big.stdout + big.stderr);
  await execPlugin(c, 'DEL', inv(a, 'c1'));
  await execPlugin(c, 'DEL', inv(b, 'c2'));
});

test('bad config and environment get CNI errors naming the field, and create nothing', async () => {
  const { a } = await setup('bad');
  await rejectsWith(execPlugin(conf('1.0.0', { store: 'relative/dir' }), 'ADD', inv(a, 'c1')), 7, /"store" must be an absolute/);
  await rejectsWith(execPlugin(conf('1.0.0', { node_ip: '999.1.1.1' }), 'ADD', inv(a, 'c1')), 7, /"node_ip"/);
  await rejectsWith(execPlugin(conf('1.0.0', { disable_tx_offloads: 'no' }), 'ADD', inv(a, 'c1')), 7, /"disable_tx_offloads" must be true or false/);
  await rejectsWith(execPlugin(conf('1.0.0', { mtu: 100 }), 'ADD', inv(a, 'c1')), 7, /"mtu" must be an integer from 1280 to 65000, got 100/);
  await rejectsWith(execPlugin(conf('1.0.0'), 'ADD', inv(a, 'c1', `/var/run/netns/${run}-nope`)), 4, /CNI_NETNS/);
  await rejectsWith(execPlugin(conf('9.9.9' as CniVersion), 'ADD', inv(a, 'c1')), 1, /9\.9\.9/);
  await rejectsWith(execPlugin(conf('1.0.0'), 'ADD', { ...inv(a, 'c1'), ifname: 'a-very-long-ifname' }), 4, /CNI_IFNAME/);
  assert.deepEqual([...links(a).keys()], [], 'nothing was created');
});

/** Runs the plugin binary with raw stdin and env, as a runtime would; returns exit status and parsed stdout. */
function rawExec(stdin: string, env: Record<string, string>): { status: number | null; out: { code?: number; msg?: string; details?: string } } {
  const r = spawnSync('nsenter', [`--net=/var/run/netns/${nodeNs}`, '--', join(BIN, 'meshnet')], {
    input: stdin, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env },
  });
  return { status: r.status, out: r.stdout.trim() ? JSON.parse(r.stdout) : {} };
}

test('malformed JSON and missing env: error results naming the field', async () => {
  const { a } = await setup('raw');
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: `/var/run/netns/${run}-${a}`, CNI_IFNAME: 'eth0', CNI_PATH: BIN,
    CNI_ARGS: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=${a}` };
  let r = rawExec('{"cniVersion": "1.0.0", "name": ', env);
  assert.equal(r.status, 1);
  assert.equal(r.out.code, 6);
  r = rawExec(JSON.stringify(conf('1.0.0')), { ...env, CNI_CONTAINERID: '' });
  assert.equal(r.status, 1);
  assert.equal(r.out.code, 4);
  assert.match(`${r.out.msg} ${r.out.details}`, /CNI_CONTAINERID/);
  r = rawExec(JSON.stringify({ ...conf('1.0.0'), cniVersion: undefined }), env);
  assert.equal(r.out.code, 1);
  assert.match(`${r.out.msg} ${r.out.details}`, /cniVersion/);
  assert.deepEqual([...links(a).keys()], [], 'nothing was created');
});

test('a Topology with a bad link (written by something that skipped validation): the link is left out and named in status.plumbing_error, the valid links come up', async () => {
  const { a, client } = await setup('badl');
  const store = new FileStore(join(dir, 'store'));
  const cur = (await store.get('topologies', 'default', a))!;
  const spec = cur.spec as Topology['spec'];
  await store.update('topologies', { ...cur, spec: { links: [...spec.links, { uid: 3, peer_pod: 'x', local_intf: 'eth3', peer_intf: 'eth1', local_ip: '12.12.12.1/33' }] } });
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: `/var/run/netns/${run}-${a}`, CNI_IFNAME: 'eth0', CNI_PATH: BIN,
    CNI_ARGS: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=${a}` };
  const r = rawExec(JSON.stringify(conf('1.0.0')), env);
  assert.equal(r.status, 0, JSON.stringify(r.out));
  assert.deepEqual([...links(a).keys()].sort(), ['lo1', 'lo2'], 'the valid self link is plumbed, the bad link is not');
  const st = (await client.get('default', a))!.status!;
  assert.match(st.plumbing_error ?? '', /^spec\.links\[2\]\.local_ip: "12\.12\.12\.1\/33" is not a CIDR/);
  assert.equal(st.net_ns, `/var/run/netns/${run}-${a}`, 'the pod is alive');
});

test("a link whose peer's half is invalid is left out on both sides, each naming why", async () => {
  const { a, b, client } = await setup('peerbad');
  const store = new FileStore(join(dir, 'store'));
  const cur = (await store.get('topologies', 'default', b))!;
  await store.update('topologies', { ...cur, spec: { links: [{ uid: 1, peer_pod: a, local_intf: 'eth1', peer_intf: 'eth1', local_ip: '12.12.12.2/40' }] } });
  const env = (pod: string) => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: `c-${pod}`, CNI_NETNS: `/var/run/netns/${run}-${pod}`, CNI_IFNAME: 'eth0', CNI_PATH: BIN,
    CNI_ARGS: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod}` });
  assert.equal(rawExec(JSON.stringify(conf('1.0.0')), env(b)).status, 0);
  assert.equal(rawExec(JSON.stringify(conf('1.0.0')), env(a)).status, 0);
  assert.deepEqual([...links(a).keys()].sort(), ['lo1', 'lo2'], 'the self link is up, the link to b is not');
  assert.deepEqual([...links(b).keys()], []);
  assert.match((await client.get('default', a))!.status!.plumbing_error ?? '', new RegExp(`^link uid 1: the peer's half is invalid \\(Topology default/${b} spec\\.links\\[0\\]\\.local_ip: "12\\.12\\.12\\.2/40" is not a CIDR`));
  assert.match((await client.get('default', b))!.status!.plumbing_error ?? '', /^spec\.links\[0\]\.local_ip: "12\.12\.12\.2\/40" is not a CIDR/);
});

test('a link to a pod on another node: this end is a VXLAN; an unreachable peer daemon fails ADD naming the node', async () => {
  const { a, b, client } = await setup('rem');
  // This node's underlay holds node_ip; the peer node (198.51.100.99) has no route from here.
  execFileSync('ip', ['-n', nodeNs, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0p']);
  execFileSync('ip', ['-n', nodeNs, 'addr', 'add', '192.0.2.11/24', 'dev', 'ul0']);
  execFileSync('ip', ['-n', nodeNs, 'link', 'set', 'ul0', 'up']);
  await client.patchStatus('default', b, (s) => ({ ...s, src_ip: '198.51.100.99', net_ns: `/var/run/netns/${run}-${b}`, container_id: 'x' }));
  await rejectsWith(execPlugin(conf('1.0.0'), 'ADD', inv(a, 'c1')), 101, /198\.51\.100\.99/);
  const eth1 = links(a).get('eth1');
  assert.equal(eth1?.kind, 'vxlan', 'this node made its own end before asking the peer');
  assert.deepEqual(eth1?.addrs, ['12.12.12.1/24']);
  assert.match((await client.get('default', a))!.status?.plumbing_error ?? '', /198\.51\.100\.99/);
  await execPlugin(conf('1.0.0'), 'DEL', inv(a, 'c1'));
  assert.ok(!links(a).has('eth1'), 'DEL removes the VXLAN end');
  execFileSync('ip', ['-n', nodeNs, 'link', 'del', 'ul0']);
});

test('peer_pod localhost: a macvlan on the node interface peer_intf appears in the pod; DEL removes it', async () => {
  createNamedNetns(`${run}-mv`);
  // The node's uplink (no dummy links in this kernel: a veth end serves as the parent).
  execFileSync('ip', ['-n', nodeNs, 'link', 'add', 'uplink0', 'type', 'veth', 'peer', 'name', 'uplink0p']);
  execFileSync('ip', ['-n', nodeNs, 'link', 'set', 'uplink0', 'up']);
  const client = new TopologyClient(new FileStore(join(dir, 'store')));
  await client.create(topo('mv', [{ uid: 9, peer_pod: 'localhost', local_intf: 'ext0', peer_intf: 'uplink0', local_ip: '198.51.100.7/24' }]));
  await execPlugin(conf('1.0.0'), 'ADD', inv('mv', 'cmv'));
  const l = links('mv').get('ext0');
  assert.equal(l?.kind, 'macvlan');
  assert.deepEqual(l?.addrs, ['198.51.100.7/24']);
  assert.equal(l?.group, 0x6d6e);
  await execPlugin(conf('1.0.0'), 'CHECK', inv('mv', 'cmv'));
  await execPlugin(conf('1.0.0'), 'ADD', inv('mv', 'cmv')); // idempotent
  await execPlugin(conf('1.0.0'), 'DEL', inv('mv', 'cmv'));
  assert.ok(!links('mv').has('ext0'));
  assert.match(execFileSync('ip', ['-n', nodeNs, '-br', 'link']).toString(), /uplink0/, 'the parent is untouched');
});
