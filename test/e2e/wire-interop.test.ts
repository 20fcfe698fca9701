// grpc-wire calls between our daemon and the Go daemons, with @grpc/grpc-js and upstream's proto
// standing in for them: the link uid in GRPCWireDownRemote (an upstream peer finds its end by
// netns and uid), KNE's controller's AddGRPCWiresRemoteBatch against a real meshnetd, frames
// to a peer that serves only SendToOnce (upstream meshnet), and upstream's Go plugin using our
// daemon's Local wire methods.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { NetNs, Rtnl, createNamedNetns, deleteNamedNetns, listNamedNetns } from '../../src/kernel';
import { PeerClients } from '../../src/plumbing/far-node-grpc';
import { daemonWireLinker } from '../../src/daemon/wire-linker';
import { cniSocketPath } from '../../src/plumbing/sockets';
import { FileStore } from '../../src/store';
import { TopologyClient } from '../../src/topology';
import { WireDataplane } from '../../src/wire/dataplane';
import { WireRecords } from '../../src/wire/records';
import { silentLogger } from '../../src/log';

const PROTO = resolve('proto/meshnet/v1beta1/meshnet.proto');
const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const { Remote } = (grpc.loadPackageDefinition(def) as unknown as { meshnet: { v1beta1: Record<'Remote', grpc.ServiceClientConstructor> } }).meshnet.v1beta1;
const run = `wi${process.pid % 10000}${randomBytes(2).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), `${run}-`));
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const ns of listNamedNetns().filter((n) => n.startsWith(run))) deleteNamedNetns(ns);
  rmSync(dir, { recursive: true, force: true });
});

test('GRPCWireDownRemote tells the peer the link\'s uid (an upstream daemon looks its end up by netns and uid)', async () => {
  const seen: Record<string, unknown>[] = [];
  const server = new grpc.Server();
  server.addService(Remote.service, {
    GRPCWireDownRemote: (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      seen.push(call.request);
      cb(null, { response: true });
    },
  });
  const port = await new Promise<number>((r, j) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  cleanups.push(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  const peers = new PeerClients(port);
  cleanups.push(() => peers.close());
  const dataplane = new WireDataplane({ grpcPort: port, log: silentLogger });
  cleanups.push(() => dataplane.close());
  const linker = daemonWireLinker(dataplane, peers, new WireRecords(new FileStore(join(dir, 'store')), 'node1'), 'node1');
  await linker.disconnect(
    { namespace: 'default', pod: 'r1', intf: 'eth1', netns: '/var/run/netns/r1', node: '192.0.2.11' },
    { namespace: 'default', pod: 'r2', intf: 'eth3', netns: '/var/run/netns/r2', node: '127.0.0.1' }, 42);
  assert.equal(seen.length, 1);
  assert.deepEqual([seen[0]!.link_uid, seen[0]!.local_pod_name, seen[0]!.intf_name_in_pod, seen[0]!.local_pod_net_ns], ['42', 'r2', 'eth3', '/var/run/netns/r2']);
});

/** A grpc-js client run inside the node's netns (where meshnetd listens), asynchronously. */
function inNode(node: string, script: string): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const c = spawn('nsenter', [`--net=/var/run/netns/${node}`, '--', process.execPath, '--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', reject);
    c.on('close', () => (out.trim() ? resolveRun(out.trim()) : reject(new Error(err))));
  });
}

test('AddGRPCWiresRemoteBatch (KNE\'s controller, no fallback): every wire end is made, one result per item in order; a bad item answers false and does not stop the others', async () => {
  const node = `${run}-node`;
  const pod = `${run}-pod`;
  createNamedNetns(node);
  createNamedNetns(pod);
  const sock = cniSocketPath('meshnet', `/var/run/netns/${node}`);
  rmSync(sock, { force: true });
  let log = '';
  const d: ChildProcess = spawn('nsenter', [`--net=/var/run/netns/${node}`, '--', process.execPath, resolve('dist/meshnetd'),
    '--node', 'node1', '--node-ip', '192.0.2.21', '--store', join(dir, 'store2'), '--inter-node-link-type', 'grpc'], { stdio: ['ignore', 'ignore', 'pipe'] });
  d.stderr!.on('data', (b: Buffer) => { log += b.toString(); });
  cleanups.push(async () => {
    d.kill('SIGTERM');
    for (let i = 0; i < 100 && d.exitCode === null && d.signalCode === null; i++) await sleep(20);
  });
  for (let i = 0; i < 500 && !existsSync(sock); i++) await sleep(10);
  assert.ok(existsSync(sock), log);
  // The store says r1 runs here (192.0.2.21) with links 101 and 103 to r2, which runs on the
  // calling node: 127.0.0.1, where the client below calls from (peer-auth.ts checks all of it).
  const topo = new TopologyClient(new FileStore(join(dir, 'store2')));
  const links = (peer: string) => [101, 102, 103].map((uid) => ({ uid, peer_pod: peer, local_intf: `eth${uid - 100}`, peer_intf: `eth${uid - 100}` }));
  for (const [name, peer, src, netns] of [['r1', 'r2', '192.0.2.21', `/var/run/netns/${pod}`], ['r2', 'r1', '127.0.0.1', '/var/run/netns/elsewhere']] as const) {
    await topo.create({ apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name, namespace: 'default' }, spec: { links: links(peer) } });
    await topo.setStatus('default', name, { src_ip: src, net_ns: netns, container_id: 'c' });
  }
  const item = (intf: string, id: number, netns = `/var/run/netns/${pod}`) => ({
    wire_if_id_on_peer_node: String(id), peer_node_ip: '127.0.0.1', intf_name_in_pod: intf, local_pod_net_ns: netns,
    link_uid: String(id), local_pod_name: 'r1', wire_if_name_on_local_node: '', topo_ns: 'default', local_pod_ip: '',
  });
  const items = [item('eth1', 101), item('eth2', 102, '/var/run/netns/nonexistent'), item('eth3', 103)];
  const out = await inNode(node, `
    const grpc = require('${resolve('node_modules/@grpc/grpc-js')}');
    const loader = require('${resolve('node_modules/@grpc/proto-loader')}');
    const def = loader.loadSync('${PROTO}', { keepCase: true, longs: String, defaults: true });
    const Remote = grpc.loadPackageDefinition(def).meshnet.v1beta1.Remote;
    const c = new Remote('127.0.0.1:51111', grpc.credentials.createInsecure());
    c.AddGRPCWiresRemoteBatch({ items: ${JSON.stringify(items)} }, (e, r) => { console.log(e ? 'ERR ' + e.message : JSON.stringify(r.items)); c.close(); });`);
  const results = JSON.parse(out) as { response: boolean; peer_intf_id: string }[];
  assert.deepEqual(results.map((r) => r.response), [true, false, true], log);
  assert.equal(results[1]!.peer_intf_id, '102', 'a failed item answers the sender\'s id back');
  assert.notEqual(results[0]!.peer_intf_id, results[2]!.peer_intf_id);
  const ns = NetNs.open(pod);
  const rt = Rtnl.open(ns);
  try {
    assert.deepEqual(rt.links().map((l) => l.name).filter((n) => n !== 'lo').sort(), ['eth1', 'eth3']);
  } finally {
    rt.close();
    ns.close();
  }
});

test('towards a peer that serves only SendToOnce (upstream meshnet), the pod\'s frames go one SendToOnce each, addressed by the peer\'s wire id', async () => {
  const node = `${run}-un`;
  const pod = `${run}-up`;
  createNamedNetns(node);
  createNamedNetns(pod);
  const out = await inNodeFile(node, resolve('test/helpers/unary-peer-scenario.ts'), [`/var/run/netns/${pod}`]);
  const r = JSON.parse(out) as { got: { id: string; bytes: number }[]; logs: string[] };
  assert.ok(r.got.length > 0, `no SendToOnce arrived; dataplane said: ${r.logs.join(' | ')}`);
  assert.ok(r.got.every((g) => g.id === '777' && g.bytes >= 42), JSON.stringify(r.got));
  assert.ok(r.logs.some((l) => /does not serve WireProtocol\.SendToStream \(upstream meshnet\): sending each frame with SendToOnce/.test(l)), r.logs.join(' | '));
});

function inNodeFile(node: string, file: string, args: string[]): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const c = spawn('nsenter', [`--net=/var/run/netns/${node}`, '--', process.execPath, '--import', 'tsx', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', reject);
    c.on('close', () => (out.trim() ? resolveRun(out.trim()) : reject(new Error(err))));
  });
}

/** Lines a long-running child prints, as they come. */
function lines(c: ChildProcess): string[] {
  const got: string[] = [];
  let buf = '';
  c.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) { got.push(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
  });
  return got;
}

test('upstream\'s Go plugin on our daemon: AddGRPCWireLocal relays the veth it made, GRPCWireExists finds it by netns and uid, frames flow both ways by the ids it chose, RemGRPCWire removes it', async () => {
  const node = `${run}-gn`;
  const peerNs = `${run}-gp`;
  const pod = `${run}-gq`;
  for (const n of [node, peerNs, pod]) createNamedNetns(n);
  const ip = (...a: string[]) => new Promise<void>((r, j) => spawn('ip', a, { stdio: 'ignore' }).on('close', (c) => (c === 0 ? r() : j(new Error(`ip ${a.join(' ')}: ${c}`)))));
  // The peer node: reachable from the node over a veth.
  await ip('-n', node, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up0', 'netns', peerNs);
  await ip('-n', node, 'addr', 'add', '10.99.0.1/30', 'dev', 'up0');
  await ip('-n', peerNs, 'addr', 'add', '10.99.0.2/30', 'dev', 'up0');
  for (const n of [node, peerNs]) { await ip('-n', n, 'link', 'set', 'up0', 'up'); await ip('-n', n, 'link', 'set', 'lo', 'up'); }
  const peer = spawn('nsenter', [`--net=/var/run/netns/${peerNs}`, '--', process.execPath, '--import', 'tsx', resolve('test/helpers/sendtoonce-peer.ts'), '10.99.0.2', '51111'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const peerLines = lines(peer);
  cleanups.push(() => { peer.kill('SIGTERM'); });
  // Our daemon on the node.
  const sock = cniSocketPath('meshnet', `/var/run/netns/${node}`);
  rmSync(sock, { force: true });
  let log = '';
  const d = spawn('nsenter', [`--net=/var/run/netns/${node}`, '--', process.execPath, resolve('dist/meshnetd'),
    '--node', 'node1', '--node-ip', '10.99.0.1', '--store', join(dir, 'store3'), '--inter-node-link-type', 'grpc'], { stdio: ['ignore', 'ignore', 'pipe'] });
  d.stderr!.on('data', (b: Buffer) => { log += b.toString(); });
  cleanups.push(async () => {
    d.kill('SIGTERM');
    for (let i = 0; i < 100 && d.exitCode === null && d.signalCode === null; i++) await sleep(20);
  });
  for (let i = 0; i < 500 && (!existsSync(sock) || !peerLines.includes('ready')); i++) await sleep(10);
  assert.ok(existsSync(sock) && peerLines.includes('ready'), log);
  // The veth as upstream's plugin makes it: pod end eth1, host end under a name of its choosing.
  await ip('-n', node, 'link', 'add', 'eth1-r1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', pod);
  await ip('-n', node, 'link', 'set', 'eth1-r1', 'up');
  await ip('-n', pod, 'link', 'set', 'eth1', 'up');
  // `ip netns exec` mounts the pod's own sysfs, so the counters are the pod's interface's.
  const rxPackets = () => new Promise<number>((res, j) => {
    let o = '';
    const c = spawn('ip', ['netns', 'exec', pod, 'cat', '/sys/class/net/eth1/statistics/rx_packets'], { stdio: ['ignore', 'pipe', 'ignore'] });
    c.stdout.on('data', (b: Buffer) => { o += b.toString(); });
    c.on('close', (code) => (code === 0 ? res(Number(o.trim())) : j(new Error('reading rx_packets'))));
  });
  const rxBefore = await rxPackets();
  const r = JSON.parse(await inNodeFile(node, resolve('test/helpers/upstream-plugin-scenario.ts'), [`/var/run/netns/${pod}`, 'eth1-r1', '10.99.0.2'])) as Record<string, Record<string, unknown>> & { index: number };
  assert.deepEqual(r.existsBefore, { response: false, peer_intf_id: '0' });
  // grpc-js decodes grpc-message with decodeURI, which leaves connect-node's %3A for ':' (grpc-go decodes it).
  assert.match(String(r.badAdd!.error), /^INVALID_ARGUMENT WireDef\.wire_if_name_on_local_node(:|%3A) nosuchif does not exist on this node/);
  assert.deepEqual(r.add, { response: true }, log);
  assert.deepEqual(r.exists, { response: true, peer_intf_id: '555' });
  assert.deepEqual(r.deliver, { response: true });
  const rxAfter = await rxPackets();
  assert.ok(rxAfter > rxBefore, `the peer's frame reached the pod (rx ${rxBefore} -> ${rxAfter})`);
  // The pod's frames reach the peer, addressed by the id the peer chose (555), one SendToOnce each.
  await new Promise<void>((res) => spawn('nsenter', [`--net=/var/run/netns/${pod}`, '--', 'ping', '-c', '3', '-i', '0.3', '-W', '1', '10.77.0.2'], { stdio: 'ignore' }).on('close', () => res()));
  for (let i = 0; i < 40 && !peerLines.some((l) => l.startsWith('{')); i++) await sleep(50);
  const frames = peerLines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { id: string; bytes: number });
  assert.ok(frames.length > 0 && frames.every((f) => f.id === '555'), `${JSON.stringify(frames)}\n${log}`);
  // DEL: RemGRPCWire removes the pod's wires.
  const del = JSON.parse(await inNodeFile(node, resolve('test/helpers/upstream-plugin-del.ts'), [`/var/run/netns/${pod}`])) as Record<string, unknown>;
  assert.deepEqual(del, { rem: { response: true }, exists: { response: false, peer_intf_id: '0' } });
  const ns = NetNs.open(node);
  const rt = Rtnl.open(ns);
  try {
    assert.equal(rt.link('eth1-r1'), undefined, 'the wire is gone');
  } finally {
    rt.close();
    ns.close();
  }
});
