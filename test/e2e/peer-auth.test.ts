// meshnetd's gRPC port, tried as an attacker on the node network would (issue 8): requests from a
// host that is not the link's peer node, or naming a netns, interface, VNI or address the store
// does not give the caller, are refused with PERMISSION_DENIED, change nothing, and are counted;
// Local answers only this node. One lab (r1 on n1, r2 on n2, one VXLAN link) and one attacker
// host on the fabric (192.0.2.250); one behaviour per test.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NetNs, Rtnl } from '../../src/kernel';
import { checkLinks, netnsPath, nodeWires, type LabState } from '../../src/lab';
import { ATTACKER_IP, N1, N2, from, labDownWithAttacker, labWithAttacker, removeRunDir } from '../helpers/attacker-lab';
import { cniSocketPath } from '../../src/plumbing/sockets';
import { vniOf } from '../../src/plumbing/vxlan';
import { openStore } from '../../src/store';
import { TopologyClient } from '../../src/topology';


const name = `pa${process.pid % 10000}${randomBytes(2).toString('hex')}`;
const attacker = `${name}-atk`;
let state: LabState;
before(async () => {
  state = await labWithAttacker(name);
});
// One hook, in this order: root hooks run in the order they are registered (the run directory
// must outlive the daemons that write to its store).
after(async () => {
  await labDownWithAttacker(name);
  removeRunDir();
});

const pod = (p: string) => state.pods.find((x) => x.name === p)!;
const node = (n: string) => state.nodes.find((x) => x.name === n)!;
const vni = () => vniOf(1, 'default', 'kne');

/** Remote.Update to n1's daemon, sent from `netns`. */
const update = (netns: string, req: Record<string, unknown>) => from(netns, `
  const c = g.remoteClient('${N1}:51111', { timeoutMs: 3000 });
  console.log(String(await c.update(${JSON.stringify(req)}))); c.close();`);

function linksOf(netns: string): Map<string, { kind?: string; remote?: string }> {
  const ns = NetNs.open(netns.startsWith('/') ? netns : netnsPath(netns));
  const r = Rtnl.open(ns);
  try {
    return new Map(r.links().map((l) => [l.name, { ...(l.kind ? { kind: l.kind } : {}), ...(l.vxlan?.remote ? { remote: l.vxlan.remote } : {}) }]));
  } finally {
    r.close();
    ns.close();
  }
}

function metrics(n: string): Promise<string> {
  return new Promise((res, rej) => {
    httpGet({ socketPath: cniSocketPath('meshnetd-admin', netnsPath(node(n).netns)), path: '/metrics' }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => { body += d.toString(); });
      r.on('end', () => res(body));
    }).on('error', rej);
  });
}

test('a VXLAN with an address of the caller\'s choosing in the node\'s own netns is refused; nothing is made there', async () => {
  const before = [...linksOf(node('n1').netns).keys()].sort();
  const out = await update(attacker, { netNs: netnsPath(node('n1').netns), intfName: 'evil0', intfIp: '10.66.0.1/24', peerVtep: ATTACKER_IP, kubeNs: 'default', vni: 4242, nodeIntf: '' });
  assert.match(out, /^PERMISSION_DENIED .*no pod of namespace default runs on this node \(192\.0\.2\.11\) in netns/);
  assert.deepEqual([...linksOf(node('n1').netns).keys()].sort(), before);
});

test('a request naming a pod\'s real link but from a host that is not the peer\'s node is refused', async () => {
  const out = await update(attacker, { netNs: netnsPath(pod('r1').netns), intfName: 'eth1', intfIp: '10.1.1.1/24', peerVtep: N2, kubeNs: 'default', vni: vni(), nodeIntf: '' });
  assert.match(out, /^PERMISSION_DENIED .*the request comes from 192\.0\.2\.250, not from node 192\.0\.2\.12 where its peer pod runs/);
});

test('a request that claims the attacker\'s own address as the peer node is refused (the store says the peer runs elsewhere)', async () => {
  const out = await update(attacker, { netNs: netnsPath(pod('r1').netns), intfName: 'eth1', intfIp: '', peerVtep: ATTACKER_IP, kubeNs: 'default', vni: vni(), nodeIntf: '' });
  assert.match(out, /^PERMISSION_DENIED .*its peer pod r2 is not up on node 192\.0\.2\.250/);
  assert.equal(linksOf(pod('r1').netns).get('eth1')?.remote, N2, 'r1\'s link still points at n2');
});

test('the real peer node asking for an interface the Topology does not list is refused', async () => {
  const out = await update(node('n2').netns, { netNs: netnsPath(pod('r1').netns), intfName: 'eth7', intfIp: '', peerVtep: N2, kubeNs: 'default', vni: vni(), nodeIntf: '' });
  assert.match(out, /^PERMISSION_DENIED .*pod default\/r1 has no link on interface eth7/);
  assert.equal(linksOf(pod('r1').netns).has('eth7'), false);
});

test('the real peer node asking for another VNI or another address than the link\'s is refused', async () => {
  const base = { netNs: netnsPath(pod('r1').netns), intfName: 'eth1', peerVtep: N2, kubeNs: 'default', nodeIntf: '' };
  assert.match(await update(node('n2').netns, { ...base, intfIp: '', vni: vni() + 1 }), /^PERMISSION_DENIED .*VNI \d+ is not the link's/);
  assert.match(await update(node('n2').netns, { ...base, intfIp: '10.66.0.1/24', vni: vni() }), /^PERMISSION_DENIED .*address 10\.66\.0\.1\/24 is not the one its Topologies give/);
});

test('the real peer node asking for exactly the link\'s far end is served', async () => {
  const out = await update(node('n2').netns, { netNs: netnsPath(pod('r1').netns), intfName: 'eth1', intfIp: '10.1.1.1/24', peerVtep: N2, kubeNs: 'default', vni: vni(), nodeIntf: '' });
  assert.equal(out, 'true');
});

test('RemoveEnd from a host that is not the link\'s remote is refused; the link keeps passing traffic', async () => {
  const out = await from(attacker, `
    const c = g.remoteClient('${N1}:51111', { timeoutMs: 3000 });
    console.log(String(await c.removeEnd({ netNs: '${netnsPath(pod('r1').netns)}', intfName: 'eth1', vni: ${vni()}, peerVtep: '${N2}' }))); c.close();`);
  assert.match(out, /^PERMISSION_DENIED .*comes from 192\.0\.2\.250, not from node 192\.0\.2\.12/);
  const rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
  assert.deepEqual(rows.map((r) => [r.uid, r.pass]), [[1, true]]);
});

test('RemoveEnd with a malformed field is INVALID_ARGUMENT naming the field of its own message (EndRef)', async () => {
  const out = await from(attacker, `
    const c = g.remoteClient('${N1}:51111', { timeoutMs: 3000 });
    console.log(String(await c.removeEnd({ netNs: 'r1', intfName: 'eth1', vni: ${vni()}, peerVtep: '${N2}' }))); c.close();`);
  assert.match(out, /^INVALID_ARGUMENT .*EndRef\.net_ns: must be an absolute netns path, got "r1"/);
});

test('Local (upstream\'s plugin API) answers only this node: SetAlive from another host is refused', async () => {
  const out = await from(attacker, `
    const def = loader.loadSync('${resolve('proto/meshnet/v1beta1/meshnet.proto')}', { keepCase: true, longs: String, defaults: true });
    const Local = grpcJs.loadPackageDefinition(def).meshnet.v1beta1.Local;
    const c = new Local('${N1}:51111', grpcJs.credentials.createInsecure());
    const r = await new Promise((res) => c.SetAlive({ name: 'r1', kube_ns: 'default', src_ip: '${ATTACKER_IP}', net_ns: '/x' }, (e, v) => res(e ? 'PERMISSION_DENIED ' + decodeURIComponent(e.details) : JSON.stringify(v))));
    console.log(r); c.close();`);
  assert.match(out, /^PERMISSION_DENIED Local is served to this node only \(loopback\), not to 192\.0\.2\.250/);
  const r1 = await new TopologyClient(await openStore(state.store)).get('default', 'r1');
  assert.equal(r1?.status?.src_ip, N1, 'r1\'s status is untouched');
});

test('refusals are counted per method in the daemon\'s metrics', async () => {
  const text = await metrics('n1');
  const count = (method: string) => Number(new RegExp(`meshnetd_peer_requests_denied_total\\{node="n1",method="${method.replace(/\./g, '\\.')}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  assert.ok(count('meshnet.v1beta1.Remote/Update') >= 6, text);
  assert.ok(count('meshnet.ext.v1.RemoteExt/RemoveEnd') >= 1, text);
  assert.ok(count('meshnet.v1beta1.Local/SetAlive') >= 1, text);
});

describe('grpc-wire', () => {
  const gname = `pg${process.pid % 10000}${randomBytes(2).toString('hex')}`;
  const gatk = `${gname}-atk`;
  let g: LabState;
  before(async () => {
    g = await labWithAttacker(gname, 'grpc');
  });
  after(async () => {
    await labDownWithAttacker(gname);
  });
  const gpod = (p: string) => g.pods.find((x) => x.name === p)!;
  const gnode = (n: string) => g.nodes.find((x) => x.name === n)!;
  const wireDef = (over: Record<string, unknown> = {}) => ({
    wireIfIdOnPeerNode: 77, peerNodeIp: N2, intfNameInPod: 'eth1', localPodNetNs: netnsPath(gpod('r1').netns),
    linkUid: 1, localPodName: 'r1', wireIfNameOnLocalNode: '', topoNs: 'default', localPodIp: '', ...over,
  });

  test('AddGRPCWireRemote for a pod\'s real link from a host that is not the peer\'s node is refused', async () => {
    const out = await from(gatk, `
      const c = g.remoteClient('${N1}:51111', { timeoutMs: 3000 });
      const r = await c.addGrpcWireRemote(${JSON.stringify(wireDef())}); console.log(JSON.stringify(r, (_k, v) => typeof v === 'bigint' ? String(v) : v)); c.close();`);
    assert.match(out, /^PERMISSION_DENIED .*the request comes from 192\.0\.2\.250, not from node 192\.0\.2\.12 where its peer pod runs/);
  });

  test('in a batch, each item a caller has no right to answers false', async () => {
    const out = await from(gatk, `
      const c = g.remoteClient('${N1}:51111', { timeoutMs: 3000 });
      const r = await c.addGrpcWiresRemoteBatch([${JSON.stringify(wireDef({ peerNodeIp: ATTACKER_IP }))}]);
      console.log(JSON.stringify(r.map((x) => x.response))); c.close();`);
    assert.equal(out, '[false]');
  });

  test('GRPCWireDownRemote from a host that is not the wire\'s other end is refused; the wire keeps passing traffic', async () => {
    const out = await from(gatk, `
      const c = g.remoteClient('${N1}:51111', { timeoutMs: 3000 });
      console.log(String(await c.grpcWireDownRemote(${JSON.stringify(wireDef())}))); c.close();`);
    assert.match(out, /^PERMISSION_DENIED .*the wire's other end is on node 192\.0\.2\.12, not 192\.0\.2\.250/);
    const rows = await checkLinks(g, await new TopologyClient(await openStore(g.store)).list());
    assert.deepEqual(rows.map((r) => [r.kind, r.pass]), [['grpc', true]]);
  });

  test('frames sent to a wire\'s id from another host are dropped and counted', async () => {
    const [wire] = await nodeWires(gnode('n1'));
    assert.ok(wire, 'r1 has a wire on n1');
    const out = await from(gatk, `
      const c = g.wireClient('${N1}:51111');
      const frame = new Uint8Array(60).fill(0xff);
      console.log(String(await c.sendToOnce({ remotIntfId: ${wire.id}n, frame }))); c.close();`);
    assert.equal(out, 'true', 'SendToOnce answers as upstream (a dropped frame is not an error)');
    const text = await new Promise<string>((res, rej) => {
      httpGet({ socketPath: cniSocketPath('meshnetd-admin', netnsPath(gnode('n1').netns)), path: '/metrics' }, (r) => {
        let body = '';
        r.on('data', (d: Buffer) => { body += d.toString(); });
        r.on('end', () => res(body));
      }).on('error', rej);
    });
    assert.match(text, /meshnet_dataplane_wrong_peer_frames_total\{node="n1"\} [1-9]/);
  });
});
