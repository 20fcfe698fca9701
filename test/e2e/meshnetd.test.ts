// meshnetd serving the meshnet plugin through the exec shim, and the shim's fallback when no
// daemon listens: both paths give the same result and plumb the same links.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SUPPORTED_VERSIONS, execPlugin, type Invocation } from '../../src/cni';
import { NetNs, Rtnl, createNamedNetns, deleteNamedNetns, listNamedNetns } from '../../src/kernel';
import { cniSocketPath } from '../../src/daemon/cni-socket';
import { FileStore } from '../../src/store';
import { TopologyClient } from '../../src/topology';
import { linkIn } from '../helpers/netns';

const run = `md${process.pid % 100000}${randomBytes(2).toString('hex')}`;
const node = `${run}-node`;
const dir = mkdtempSync(join(tmpdir(), `${run}-`));
let daemon: ChildProcess | undefined;
let daemonLog = '';

after(async () => {
  daemon?.kill('SIGKILL');
  await sleep(50);
  for (const ns of listNamedNetns().filter((n) => n.startsWith(run))) deleteNamedNetns(ns);
  rmSync(dir, { recursive: true, force: true });
});

async function startDaemon(): Promise<string> {
  const sock = cniSocketPath('meshnet', `/var/run/netns/${node}`);
  // A socket file left by a killed daemon of an earlier netns with the same inode would make
  // the wait below return before this daemon listens.
  rmSync(sock, { force: true });
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  daemon = spawn('nsenter', [`--net=/var/run/netns/${node}`, '--', process.execPath, resolve('dist/meshnetd'), '--node', 'test', '--node-ip', '192.0.2.1', '--store', join(dir, 'store'), '--mtu', '9000'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  daemon.stderr!.on('data', (d: Buffer) => { daemonLog += d.toString(); });
  for (let i = 0; i < 500 && !existsSync(sock); i++) await sleep(10);
  assert.ok(existsSync(sock), `daemon socket ${sock} did not appear: ${daemonLog}`);
  return sock;
}

function inv(pod: string, id: string): Invocation {
  return {
    containerId: id, netns: `/var/run/netns/${run}-${pod}`, ifname: 'eth0',
    args: { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: pod, IgnoreUnknown: '1' },
    path: [resolve('dist/cni')], wrapper: ['nsenter', `--net=/var/run/netns/${node}`, '--'],
  };
}

function linkNames(pod: string): string[] {
  const ns = NetNs.open(`${run}-${pod}`);
  const r = Rtnl.open(ns);
  try {
    return r.links().map((l) => l.name).filter((n) => n !== 'lo').sort();
  } finally {
    r.close();
    ns.close();
  }
}

test('calls go to meshnetd while it runs, to the standalone plugin when it does not; same outcome', async () => {
  createNamedNetns(node);
  const topo = new TopologyClient(new FileStore(join(dir, 'store')));
  const conf = (v: string) => ({ cniVersion: v, name: 'n', type: 'meshnet', store: join(dir, 'store'), node_ip: '192.0.2.1' });
  for (const v of SUPPORTED_VERSIONS) {
    const [a, b] = [`a${v.replace(/\./g, '')}`, `b${v.replace(/\./g, '')}`];
    createNamedNetns(`${run}-${a}`);
    createNamedNetns(`${run}-${b}`);
    await topo.create({ apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: a, namespace: 'default' }, spec: { links: [{ uid: 1, peer_pod: b, local_intf: 'e1', peer_intf: 'e1' }] } });
    await topo.create({ apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: b, namespace: 'default' }, spec: { links: [{ uid: 1, peer_pod: a, local_intf: 'e1', peer_intf: 'e1' }] } });
  }

  // A daemon that cannot tell its node IP refuses to start, saying so.
  const noIp = spawnSync('nsenter', [`--net=/var/run/netns/${node}`, '--', process.execPath, resolve('dist/meshnetd')], { encoding: 'utf8' });
  assert.equal(noIp.status, 2);
  assert.match(noIp.stderr, /the node IP is needed: set --node-ip or HOST_IP \(this node has no IPv4 default route to derive it from\)/);

  // No daemon yet: the shim runs the JavaScript plugin itself.
  const direct = await execPlugin(conf('1.0.0'), 'ADD', inv('a100', 'ida'));
  await execPlugin(conf('1.0.0'), 'ADD', inv('b100', 'idb'));
  assert.deepEqual(linkNames('a100'), ['e1']);

  const sock = await startDaemon();
  for (const v of SUPPORTED_VERSIONS) {
    const [a, b] = [`a${v.replace(/\./g, '')}`, `b${v.replace(/\./g, '')}`];
    const out = await execPlugin(conf(v), 'ADD', inv(a, `${a}1`));
    await execPlugin(conf(v), 'ADD', inv(b, `${b}1`));
    if (v === '1.0.0') assert.deepEqual(out, direct, 'daemon and standalone results are identical');
    assert.deepEqual(linkNames(a), ['e1'], `links plumbed via the daemon for ${v}`);
    await execPlugin(conf(v), 'DEL', inv(a, `${a}1`));
    assert.deepEqual(linkNames(b), [], 'DEL through the daemon removed both ends');
  }
  const adds = daemonLog.match(/msg="cni call" .*command=ADD container=\S+ .*exit=0/g) ?? [];
  assert.equal(adds.length, 2 * SUPPORTED_VERSIONS.length, `the daemon served the calls:\n${daemonLog}`);

  // Remote.Update from a peer with bad fields: INVALID_ARGUMENT naming the field (checked before
  // anything else), nothing created.
  const grpc = await import('../../src/grpc');
  // The test process joins the node's netns only to reach the daemon's port there.
  const callInNode = async (p: Parameters<ReturnType<typeof grpc.remoteClient>['update']>[0]) => {
    const r = spawnSync('nsenter', [`--net=/var/run/netns/${node}`, '--', process.execPath, '--import', 'tsx', '-e', `
      import('${resolve('src/grpc/index.ts')}').then(async (g) => {
        const c = g.remoteClient('127.0.0.1:${grpc.MESHNET_GRPC_PORT}', { timeoutMs: 3000 });
        try { await c.update(${JSON.stringify(p, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}); console.log('OK'); }
        catch (e) { console.log(e.codeName + ' ' + e.message); } finally { c.close(); }
      });`], { encoding: 'utf8' });
    return r.stdout.trim();
  };
  const good = { netNs: `/var/run/netns/${run}-a100`, intfName: 'vx9', intfIp: '', peerVtep: '192.0.2.2', kubeNs: 'default', vni: 5009, nodeIntf: '' };
  assert.match(await callInNode({ ...good, vni: 0 }), /^INVALID_ARGUMENT .*RemotePod\.vni: 0 is not a VXLAN id/);
  assert.match(await callInNode({ ...good, intfName: 'way-too-long-name0' }), /^INVALID_ARGUMENT .*RemotePod\.intf_name/);
  // A netns no pod of this node has is not this caller's to touch (peer-auth.ts): refused as such.
  assert.match(await callInNode({ ...good, netNs: '/var/run/netns/nope' }), /^PERMISSION_DENIED .*no pod of namespace default runs on this node \(192\.0\.2\.1\) in netns \/var\/run\/netns\/nope/);
  assert.match(await callInNode({ ...good, peerVtep: 'x' }), /^INVALID_ARGUMENT .*RemotePod\.peer_vtep/);
  assert.ok(!linkNames('a100').includes('vx9'), 'nothing was created');

  // Upstream's bare conflist entry works through the daemon: its store and node IP are the ones.
  const bare = { cniVersion: '1.0.0', name: 'meshnet', type: 'meshnet' };
  await execPlugin(bare, 'ADD', inv('a100', 'bare1'));
  await execPlugin(bare, 'ADD', inv('b100', 'bare2'));
  assert.deepEqual(linkNames('a100'), ['e1']);
  assert.equal((await topo.get('default', 'a100'))?.status?.src_ip, '192.0.2.1', "the daemon's node IP was recorded");
  await execPlugin(bare, 'DEL', inv('a100', 'bare1'));
  await execPlugin(bare, 'DEL', inv('b100', 'bare2'));
  // A config naming another store than the daemon's is refused, naming both (one store setting).
  await assert.rejects(execPlugin({ ...bare, store: '/tmp/elsewhere' }, 'ADD', inv('a100', 'x')),
    (e: Error & { code?: number }) => e.code === 7 && /"\/tmp\/elsewhere" but meshnetd on this node serves/.test(e.message));
  await execPlugin(conf('1.0.0'), 'ADD', inv('a100', 'ida'));

  // Errors come back through the daemon unchanged.
  await assert.rejects(execPlugin({ ...conf('1.0.0'), store: 'rel' }, 'ADD', inv('a100', 'x')), /"store" must be an absolute/);

  // SIGTERM: the daemon removes its socket, and the shim falls back again.
  daemon!.kill('SIGTERM');
  for (let i = 0; i < 300 && existsSync(sock); i++) await sleep(10);
  assert.ok(!existsSync(sock), 'socket removed on shutdown');
  await execPlugin(conf('1.0.0'), 'DEL', inv('a100', 'ida'));
  assert.deepEqual(linkNames('b100'), []);
});

test('the exec shim alone (no daemon, no JavaScript build next to it) answers with a CNI error saying so', () => {
  const lonely = mkdtempSync(join(tmpdir(), `${run}-bin-`));
  try {
    copyFileSync(resolve('dist/cni/meshnet'), join(lonely, 'meshnet'));
    chmodSync(join(lonely, 'meshnet'), 0o755);
    const r = spawnSync(join(lonely, 'meshnet'), [], { input: '{"cniVersion":"1.0.0","name":"n","type":"meshnet"}', encoding: 'utf8', env: { CNI_COMMAND: 'ADD', PATH: process.env.PATH ?? '' } });
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout) as { code: number; msg: string; details: string };
    assert.equal(out.code, 11);
    assert.equal(out.msg, 'meshnetd is not running on this node');
    assert.match(out.details, /no meshnetd answers on \/run\/meshnet\/meshnet-\d+\.sock .*there is no standalone plugin to run instead/);
  } finally {
    rmSync(lonely, { recursive: true, force: true });
  }
});

test('on a node without Node.js (a cluster node) the shim answers error 11 naming the daemon instead of exec\'ing a missing runtime', () => {
  const root = mkdtempSync(join(tmpdir(), `${run}-nonode-`));
  try {
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'lib'));
    copyFileSync(resolve('dist/lib/meshnet-plugin.cjs'), join(root, 'lib', 'meshnet-plugin.cjs'));
    // The shim as built for an image whose Node.js is not on this host.
    const cc = spawnSync('cc', ['-O2', '-DNODE_BIN="/nonexistent/bin/node"', '-o', join(root, 'bin', 'meshnet'), resolve('src/shim/cni-shim.c')], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    const r = spawnSync(join(root, 'bin', 'meshnet'), [], { input: '{"cniVersion":"1.0.0","name":"n","type":"meshnet"}', encoding: 'utf8', env: { CNI_COMMAND: 'ADD', PATH: '/nonexistent' } });
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout) as { code: number; msg: string; details: string };
    assert.deepEqual([out.code, out.msg], [11, 'meshnetd is not running on this node']);
    assert.match(out.details, /no meshnetd answers on \/run\/meshnet\/meshnet-\d+\.sock \(is the meshnet DaemonSet pod running on this node\?\) and Node\.js is not installed/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('meshnetd --mtu 9000: a link its Topology gives no mtu, plumbed through the daemon, gets 9000 at both ends', async () => {
  if (!daemon || daemon.exitCode !== null || daemon.signalCode !== null) await startDaemon();
  const topo = new TopologyClient(new FileStore(join(dir, 'store')));
  for (const [me, peer] of [['m1', 'm2'], ['m2', 'm1']]) {
    createNamedNetns(`${run}-${me}`);
    await topo.create({ apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: me!, namespace: 'default' }, spec: { links: [{ uid: 7, peer_pod: peer!, local_intf: 'j1', peer_intf: 'j1' }] } });
  }
  const conf = { cniVersion: '1.0.0', name: 'n', type: 'meshnet', store: join(dir, 'store'), node_ip: '192.0.2.1' };
  await execPlugin(conf, 'ADD', inv('m1', 'm1c'));
  await execPlugin(conf, 'ADD', inv('m2', 'm2c'));
  assert.deepEqual([linkIn(`${run}-m1`, 'j1')?.mtu, linkIn(`${run}-m2`, 'j1')?.mtu], [9000, 9000]);
  await execPlugin(conf, 'DEL', inv('m1', 'm1c'));
  await execPlugin(conf, 'DEL', inv('m2', 'm2c'));
});
