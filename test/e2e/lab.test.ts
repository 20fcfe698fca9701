// The lab end to end: the shipped triangle comes up through the real CNI chain (Debian's bridge +
// host-local, then meshnet), every link passes traffic, and `down` leaves nothing behind, also
// after a failed `up`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetNs, Rtnl, listNamedNetns } from '../../src/kernel';
import { checkLinks, labDaemonPids, labDown, labUp, nodeWires, parseLabFile, labPrefix, netnsPath, podNetns, restartDaemon, startPod, stopPod } from '../../src/lab';
import { cniSocketPath } from '../../src/daemon/cni-socket';
import { get as httpGet } from 'node:http';
import { openStore } from '../../src/store';
import { TopologyClient } from '../../src/topology';
import { vniOf } from '../../src/plumbing/vxlan';
import { linkIn as linkOf } from '../helpers/netns';

const runDir = mkdtempSync(join(tmpdir(), 'labtest-'));
const cniBinDir = resolve('dist/cni');
const uniq = () => `t${process.pid % 10000}${randomBytes(2).toString('hex')}`;
const triangleText = readFileSync('examples/triangle.yaml', 'utf8');

/** Namespaces and daemon processes a lab left behind (both must be empty after down). */
function leftovers(lab: string): string[] {
  return [
    ...listNamedNetns().filter((n) => n.startsWith(labPrefix(lab))),
    ...labDaemonPids(lab).map((p) => `meshnetd pid ${p}`),
  ];
}

after(() => rmSync(runDir, { recursive: true, force: true }));

test('triangle: up through the real CNI chain, all three links pass traffic, down leaves nothing', async () => {
  const spec = { ...parseLabFile(triangleText), name: uniq() };
  try {
    const state = await labUp(spec, 'examples/triangle.yaml', { runDir, cniBinDir });
    assert.equal(state.pods.length, 3);
    // One real meshnetd per node served the CNI calls (the exec shim forwarded them).
    assert.equal(labDaemonPids(spec.name).length, 1);
    const log = readFileSync(join(state.dir, 'nodes', 'node1', 'meshnetd.log'), 'utf8');
    assert.equal((log.match(/msg="cni call" .*command=ADD container=\w+ .*exit=0/g) ?? []).length, 3, log);
    // eth0 comes from the bridge plugin: each pod has a 10.244.0.x address from host-local.
    for (const p of state.pods) assert.match(p.result?.ips[0]?.address ?? '', /^10\.244\.0\.\d+\/24$/);
    const topos = await new TopologyClient(await openStore(state.store)).list();
    const rows = await checkLinks(state, topos);
    assert.deepEqual(rows.map((r) => [r.uid, r.a, r.b, r.state, r.pass]), [
      [1, 'r1:eth1', 'r2:eth1', 'up', true],
      [2, 'r1:eth2', 'r3:eth1', 'up', true],
      [3, 'r2:eth2', 'r3:eth2', 'up', true],
    ]);
    for (const r of rows) assert.equal(r.traffic?.received, r.traffic?.sent);
    // Every pod recorded itself alive on the node's underlay IP.
    for (const t of topos) assert.equal(t.status?.src_ip, state.nodes[0]!.underlayIp);
  } finally {
    const r = await labDown(spec.name, { runDir });
    assert.deepEqual(r.podErrors, []);
  }
  assert.deepEqual(leftovers(spec.name), []);
  assert.ok(!existsSync(join(runDir, spec.name)), 'state directory removed');
});

test('a failed up (macvlan to a missing host interface) is undone completely', async () => {
  const name = uniq();
  const spec = parseLabFile(`
name: ${name}
nodes: [n1]
pods: [{name: a}, {name: b}]
topologies:
  - metadata: {name: a}
    spec: {links: [{uid: 1, peer_pod: b, local_intf: eth1, peer_intf: eth1}]}
  - metadata: {name: b}
    spec: {links: [{uid: 1, peer_pod: a, local_intf: eth1, peer_intf: eth1}, {uid: 2, peer_pod: localhost, local_intf: eth2, peer_intf: nosuchif0}]}
`);
  await assert.rejects(labUp(spec, '(inline)', { runDir, cniBinDir }), /nosuchif0/);
  assert.deepEqual(leftovers(name), []);
  assert.ok(!existsSync(join(runDir, name)));
});

test('a lab cannot be brought up twice', async () => {
  const spec = { ...parseLabFile(triangleText), name: uniq() };
  try {
    await labUp(spec, '(x)', { runDir, cniBinDir });
    await assert.rejects(labUp(spec, '(x)', { runDir, cniBinDir }), /already up/);
  } finally {
    await labDown(spec.name, { runDir });
  }
  assert.deepEqual(leftovers(spec.name), []);
});

test('lab down of lab "x" leaves lab "x-b" alone (names are matched exactly, not by prefix)', async () => {
  const a = { ...parseLabFile(triangleText), name: uniq() };
  const b = { ...parseLabFile(triangleText), name: `${a.name}-b` };
  try {
    await labUp(a, '(a)', { runDir, cniBinDir });
    const stateB = await labUp(b, '(b)', { runDir, cniBinDir });
    const bNetns = leftovers(b.name);
    await labDown(a.name, { runDir });
    assert.deepEqual(leftovers(b.name), bNetns, 'every namespace of the other lab is still there');
    assert.equal(labDaemonPids(b.name).length, 1, 'its daemon still runs');
    const rows = await checkLinks(stateB, await new TopologyClient(await openStore(stateB.store)).list());
    assert.ok(rows.length === 3 && rows.every((r) => r.pass), 'its links still pass traffic');
  } finally {
    await labDown(a.name, { runDir });
    await labDown(b.name, { runDir });
  }
  assert.deepEqual([...leftovers(a.name), ...leftovers(b.name)], []);
});

test('meshnetctl whose reader goes away (| head) finishes quietly: no EPIPE stack trace', async () => {
  const child = spawn(process.execPath, ['dist/meshnetctl', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader is gone before the first write, as head's after its lines
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number | null>((res) => child.on('close', res));
  assert.deepEqual([code, stderr], [0, '']);
});

test('meshnetctl: lab up / status / down from the CLI, and the demo', () => {
  const name = uniq();
  const dir = mkdtempSync(join(tmpdir(), 'labcli-'));
  const file = join(dir, 'lab.yaml');
  writeFileSync(file, triangleText.replace(/^name: triangle$/m, `name: ${name}`));
  const ctl = (...args: string[]) => spawnSync(process.execPath, ['dist/meshnetctl', ...args], { encoding: 'utf8' });
  try {
    const up = ctl('lab', 'up', file);
    assert.equal(up.status, 0, up.stderr + up.stdout);
    assert.match(up.stdout, /3 of 3 links passed traffic/);
    const st = ctl('lab', 'status', name);
    assert.equal(st.status, 0, st.stderr);
    assert.match(st.stdout, /node1 .* underlay 192\.0\.2\.11 .* meshnetd pid \d+\n/);
    assert.match(st.stdout, /r1:eth1\s+r2:eth1\s+veth\s+1500\s+12\.12\.12\.1\/24 <-> 12\.12\.12\.2\/24\s+up/);
    const chk = ctl('lab', 'check', name);
    assert.equal(chk.status, 0, chk.stderr + chk.stdout);
    assert.match(chk.stdout, /CNI CHECK default\/r1: ok\nCNI CHECK default\/r2: ok\nCNI CHECK default\/r3: ok/);
    // Break a link behind meshnet's back: CHECK of that pod fails naming it, and check exits 1.
    spawnSync('ip', ['-n', podNetns(name, { namespace: 'default', name: 'r3' }), 'link', 'set', 'eth2', 'down']);
    const broken = ctl('lab', 'check', name);
    assert.equal(broken.status, 1);
    assert.match(broken.stdout, /CNI CHECK default\/r3: FAILED: .*eth2 is down/);
    spawnSync('ip', ['-n', podNetns(name, { namespace: 'default', name: 'r3' }), 'link', 'set', 'eth2', 'up']);
    const ex = ctl('lab', 'exec', name, 'r2', '--', 'ping', '-c', '1', '-W', '2', '23.23.23.3');
    assert.equal(ex.status, 0, ex.stderr + ex.stdout);
    assert.match(ex.stdout, /1 received/);
    const noPod = ctl('lab', 'exec', name, 'r9', '--', 'true');
    assert.equal(noPod.status, 1);
    assert.match(noPod.stderr, /has no pod default\/r9 \(pods: r1, r2, r3\)/);
    const down = ctl('lab', 'down', name);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual(leftovers(name), []);

    const demoName = uniq();
    writeFileSync(file, triangleText.replace(/^name: triangle$/m, `name: ${demoName}`));
    const demo = ctl('demo', file);
    assert.equal(demo.status, 0, demo.stderr + demo.stdout);
    assert.match(demo.stdout, /3 of 3 links passed traffic/);
    assert.match(demo.stdout, /lab down: removed 5 network namespaces, stopped 1 meshnetd/);
    assert.deepEqual(leftovers(demoName), []);

    // A plain manifest of Topology objects (no lab document), spread over two nodes.
    const manifestName = uniq();
    const manifest = join(dir, 'pair.yaml');
    writeFileSync(manifest, [
      'apiVersion: networkop.co.uk/v1beta1\nkind: Topology\nmetadata: {name: a}\nspec: {links: [{uid: 7, peer_pod: b, local_intf: eth1, local_ip: 10.7.0.1/24, peer_intf: eth1, peer_ip: 10.7.0.2/24}]}',
      'apiVersion: networkop.co.uk/v1beta1\nkind: Topology\nmetadata: {name: b}\nspec: {links: [{uid: 7, peer_pod: a, local_intf: eth1, local_ip: 10.7.0.2/24, peer_intf: eth1, peer_ip: 10.7.0.1/24}]}',
    ].join('\n---\n'));
    const m = ctl('lab', 'up', manifest, '--name', manifestName, '--nodes', '2');
    try {
      assert.equal(m.status, 0, m.stderr + m.stdout);
      assert.match(m.stdout, /7\s+a:eth1\s+b:eth1\s+vxlan\s+1450\s+10\.7\.0\.1\/24 <-> 10\.7\.0\.2\/24\s+up\s+PASS/);
      assert.match(m.stdout, /1 of 1 links passed traffic/);
    } finally {
      ctl('lab', 'down', manifestName);
    }
    assert.deepEqual(leftovers(manifestName), []);

    const bad = ctl('lab', 'up', join(dir, 'missing.yaml'));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /cannot read lab file .*missing\.yaml/);
  } finally {
    ctl('lab', 'down', name);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two nodes: per-node pod subnets and daemons, underlay between nodes, same-node links on each', async () => {
  const name = uniq();
  const spec = parseLabFile(`
name: ${name}
nodes: [n1, n2]
pods: [{name: a, node: n1}, {name: b, node: n1}, {name: c, node: n2}, {name: d, node: n2}]
topologies:
  - {metadata: {name: a}, spec: {links: [{uid: 1, peer_pod: b, local_intf: eth1, peer_intf: eth1, local_ip: 10.9.1.1/30, peer_ip: 10.9.1.2/30}]}}
  - {metadata: {name: b}, spec: {links: [{uid: 1, peer_pod: a, local_intf: eth1, peer_intf: eth1, local_ip: 10.9.1.2/30, peer_ip: 10.9.1.1/30}]}}
  - {metadata: {name: c}, spec: {links: [{uid: 2, peer_pod: d, local_intf: eth1, peer_intf: eth1, local_ip: 10.9.2.1/30, peer_ip: 10.9.2.2/30}]}}
  - {metadata: {name: d}, spec: {links: [{uid: 2, peer_pod: c, local_intf: eth1, peer_intf: eth1, local_ip: 10.9.2.2/30, peer_ip: 10.9.2.1/30}]}}
`);
  try {
    const state = await labUp(spec, '(inline)', { runDir, cniBinDir });
    assert.equal(labDaemonPids(name).length, 2, 'one meshnetd per node');
    const eth0 = Object.fromEntries(state.pods.map((p) => [p.name, p.result?.ips[0]?.address ?? '']));
    assert.match(eth0.a!, /^10\.244\.0\./);
    assert.match(eth0.c!, /^10\.244\.1\./);
    const n2 = state.nodes.find((n) => n.name === 'n2')!;
    const ping = spawnSync('ip', ['netns', 'exec', state.nodes[0]!.netns, 'ping', '-c', '1', '-W', '2', n2.underlayIp]);
    assert.equal(ping.status, 0, 'node n1 reaches node n2 over the fabric');
    const rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
    assert.deepEqual(rows.map((r) => [r.a, r.b, r.pass]), [['a:eth1', 'b:eth1', true], ['c:eth1', 'd:eth1', true]]);
  } finally {
    await labDown(name, { runDir });
  }
  assert.deepEqual(leftovers(name), []);
});

test('triangle across three nodes: VXLAN links made by both daemons (Remote.Update over gRPC), MTU 1450, traffic; a re-created pod gets its links back', async () => {
  const spec = { ...parseLabFile(readFileSync('examples/triangle-vxlan.yaml', 'utf8')), name: uniq() };
  try {
    const state = await labUp(spec, 'examples/triangle-vxlan.yaml', { runDir, cniBinDir });
    assert.equal(labDaemonPids(spec.name).length, 3);
    const topos = await new TopologyClient(await openStore(state.store)).list();
    let rows = await checkLinks(state, topos);
    assert.deepEqual(rows.map((r) => [r.uid, r.a, r.b, r.kind, r.pass]), [
      [1, 'r1:eth1', 'r2:eth1', 'vxlan', true],
      [2, 'r1:eth2', 'r3:eth1', 'vxlan', true],
      [3, 'r2:eth2', 'r3:eth2', 'vxlan', true],
    ]);
    // Each end: a VXLAN device with the default (KNE's) VNI for uid 1 in "default", towards the peer's node, MTU 1450.
    const r1 = state.pods.find((p) => p.name === 'r1')!;
    const ns = NetNs.open(netnsPath(r1.netns));
    const rt = Rtnl.open(ns);
    try {
      const eth1 = rt.link('eth1')!;
      assert.equal(eth1.kind, 'vxlan');
      assert.equal(eth1.mtu, 1450);
      assert.equal(eth1.vxlan?.vni, vniOf(1, 'default', 'kne'));
      assert.equal(eth1.vxlan?.remote, state.nodes.find((n) => n.name === 'node2')!.underlayIp);
    } finally {
      rt.close();
      ns.close();
    }
    // lab status says what the pods see: the underlay's MTU minus VXLAN's 50 bytes.
    const statusRows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list(), { traffic: false });
    assert.deepEqual([...new Set(statusRows.map((r) => `${r.kind} ${r.mtu}`))], ['vxlan 1450']);
    // The far ends were made by the peer nodes' daemons on request.
    const log2 = readFileSync(join(state.dir, 'nodes', 'node2', 'meshnetd.log'), 'utf8');
    assert.match(log2, /Remote\.Update from 192\.0\.2\.1[13]: /);

    // r1 goes away and comes back (a new sandbox): its ADD re-creates its ends and asks the
    // peers to refresh theirs; traffic flows again.
    const node1 = state.nodes.find((n) => n.name === 'node1')!;
    await stopPod(state, node1, r1);
    // Like a pulled cable, both ends went: the peers' daemons removed theirs on request.
    const linksOf = (pod: string) => {
      const p = state.pods.find((x) => x.name === pod)!;
      const n = NetNs.open(netnsPath(p.netns));
      const r = Rtnl.open(n);
      try {
        return r.links().map((l) => l.name).filter((x) => x !== 'lo' && x !== 'eth0').sort();
      } finally {
        r.close();
        n.close();
      }
    };
    assert.deepEqual(linksOf('r2'), ['eth2'], 'r2 lost its link to r1 and kept its link to r3');
    assert.deepEqual(linksOf('r3'), ['eth2'], 'r3 lost its link to r1 and kept its link to r2');
    // node2 removed its end and says why: on r1's request (RemoteExt.RemoveEnd), or, since r1's
    // DEL clears its status before it asks, its own reconciler first, seeing r1 gone.
    assert.match(readFileSync(join(state.dir, 'nodes', 'node2', 'meshnetd.log'), 'utf8'),
      new RegExp(`RemoteExt\\.RemoveEnd from 192\\.0\\.2\\.11: eth1 \\(VNI ${vniOf(1, 'default', 'kne')}\\).*: removed|reconciler: default/r2: removed eth1 \\(VXLAN\\): its peer r1 is not up`));
    const again = { ...r1, containerId: randomBytes(32).toString('hex') };
    state.pods[state.pods.indexOf(r1)] = again;
    await startPod(state, node1, again);
    rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
    assert.deepEqual(rows.map((r) => r.pass), [true, true, true], JSON.stringify(rows));
  } finally {
    await labDown(spec.name, { runDir });
  }
  assert.deepEqual(leftovers(spec.name), []);
});

test('a 60-pod ring over 3 nodes (generated like examples/ring150.yaml): all 60 VXLAN links up, down leaves nothing', async () => {
  const gen = spawnSync(process.execPath, ['examples/gen-ring.mjs', '60', '3'], { encoding: 'utf8' });
  assert.equal(gen.status, 0, gen.stderr);
  const spec = { ...parseLabFile(gen.stdout, 'ring60.yaml'), name: uniq() };
  try {
    const state = await labUp(spec, '(ring)', { runDir, cniBinDir });
    const rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list(), { traffic: false });
    assert.equal(rows.length, 60);
    // Round-robin placement puts ring neighbours on different nodes: every link is a VXLAN.
    const kinds = rows.reduce<Record<string, number>>((m, r) => ({ ...m, [r.kind]: (m[r.kind] ?? 0) + 1 }), {});
    assert.deepEqual(kinds, { vxlan: 60 }, 'neighbours in the ring sit on different nodes');
    assert.deepEqual(rows.filter((r) => !r.pass).map((r) => `${r.a} ${r.detail}`), []);
  } finally {
    const r = await labDown(spec.name, { runDir });
    assert.deepEqual(r.podErrors, []);
  }
  assert.deepEqual(leftovers(spec.name), []);
});

test('IPv6 link addresses (for v6 BGP/ISIS labs): veth and VXLAN links pass ping6', async () => {
  const name = uniq();
  const spec = parseLabFile(`
name: ${name}
nodes: [n1, n2]
pods: [{name: a, node: n1}, {name: b, node: n1}, {name: c, node: n2}]
topologies:
  - {metadata: {name: a}, spec: {links: [{uid: 1, peer_pod: b, local_intf: eth1, local_ip: "2001:db8:1::1/64", peer_intf: eth1, peer_ip: "2001:db8:1::2/64"}, {uid: 2, peer_pod: c, local_intf: eth2, local_ip: "2001:db8:2::1/64", peer_intf: eth1, peer_ip: "2001:db8:2::2/64"}]}}
  - {metadata: {name: b}, spec: {links: [{uid: 1, peer_pod: a, local_intf: eth1, local_ip: "2001:db8:1::2/64", peer_intf: eth1, peer_ip: "2001:db8:1::1/64"}]}}
  - {metadata: {name: c}, spec: {links: [{uid: 2, peer_pod: a, local_intf: eth1, local_ip: "2001:db8:2::2/64", peer_intf: eth2, peer_ip: "2001:db8:2::1/64"}]}}
`);
  try {
    const state = await labUp(spec, '(v6)', { runDir, cniBinDir });
    const rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
    assert.deepEqual(rows.map((r) => [r.kind, r.aIp, r.pass, r.traffic?.received]), [
      ['veth', '2001:db8:1::1/64', true, 3],
      ['vxlan', '2001:db8:2::1/64', true, 3],
    ]);
  } finally {
    await labDown(name, { runDir });
  }
  assert.deepEqual(leftovers(name), []);
});

test('grpc-wire links (inter_node_link_type: grpc): triangle across three nodes, full MTU, traffic over the daemons\' streams; DEL leaves the far end NO-CARRIER, re-ADD brings it back on the same interface', async () => {
  const spec = { ...parseLabFile(readFileSync('examples/triangle-grpc.yaml', 'utf8')), name: uniq() };
  try {
    const state = await labUp(spec, 'examples/triangle-grpc.yaml', { runDir, cniBinDir });
    const topologies = new TopologyClient(await openStore(state.store));
    let rows = await checkLinks(state, await topologies.list());
    assert.deepEqual(rows.map((r) => [r.uid, r.kind, r.pass]), [[1, 'grpc', true], [2, 'grpc', true], [3, 'grpc', true]], JSON.stringify(rows));
    const r1 = state.pods.find((p) => p.name === 'r1')!;
    const linkIn = (pod: string, intf: string) => linkOf(state.pods.find((x) => x.name === pod)!.netns, intf);
    assert.equal(linkIn('r1', 'eth1')?.mtu, 1500, 'no MTU reduction on a grpc-wire');
    const log1 = readFileSync(join(state.dir, 'nodes', 'node1', 'meshnetd.log'), 'utf8');
    assert.match(log1, /AddGRPCWireRemote from 192\.0\.2\.1[23]: default\/r1:eth[12] wire \d+ <-> \d+/);

    // Per-wire telemetry from each daemon's admin socket: counters moved by the pings, carrier up.
    const n1 = state.nodes.find((n) => n.name === 'node1')!;
    const n2 = state.nodes.find((n) => n.name === 'node2')!;
    const w1 = await nodeWires(n1);
    assert.deepEqual(w1.map((w) => w.podIntf).sort(), ['eth1', 'eth2']);
    const toR2 = w1.find((w) => w.podIntf === 'eth1')!;
    assert.equal(toR2.peerNode, n2.underlayIp);
    assert.equal(toR2.carrier, true);
    assert.ok(toR2.framesFromPod >= 3 && toR2.framesToPod >= 3, JSON.stringify(toR2));
    const metrics = await new Promise<string>((resolveGet, reject) => {
      httpGet({ socketPath: cniSocketPath('meshnetd-admin', netnsPath(n1.netns)), path: '/metrics' }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => { b += d.toString(); });
        res.on('end', () => resolveGet(b));
      }).on('error', reject);
    });
    assert.match(metrics, /meshnet_wire_carrier\{node="node1",namespace="default",pod="r1",intf="eth1",peer_node="192\.0\.2\.12"\} 1/);
    assert.match(metrics, /# TYPE meshnet_wire_frames_from_pod_total counter/);

    // Every wire end is recorded in its node's GWireKObj, with upstream's keys.
    const store = await openStore(state.store);
    const gw = (await store.get('gwirekobjs', 'default', 'node1')) as { status?: { grpcWireItems?: Record<string, unknown>[] } } | undefined;
    const items = gw?.status?.grpcWireItems ?? [];
    assert.deepEqual(items.map((i) => `${i.local_pod_name}:${i.local_pod_iface_name}`).sort(), ['r1:eth1', 'r1:eth2']);
    assert.deepEqual(Object.keys(items[0]!).sort(), ['gwire_peer_node_ip', 'link_id', 'local_pod_iface_name', 'local_pod_ip', 'local_pod_name',
      'local_pod_net_ns', 'node_name', 'topo_namespace', 'wire_iface_id_on_peer_node', 'wire_iface_name_on_local_node']);

    // node1's daemon restarts: it finds its records, reattaches to the existing veths, and traffic
    // resumes with the pods untouched (same interface index before and after).
    const node1 = state.nodes.find((n) => n.name === 'node1')!;
    const before = linkIn('r1', 'eth1')!.index;
    const until = async (what: string, cond: () => boolean) => {
      for (let i = 0; i < 250 && !cond(); i++) await sleep(20);
      assert.ok(cond(), what);
    };
    // node1's daemon goes away: like a pulled cable, r2's wire to r1 loses carrier; r2's wire to
    // r3 (node3) keeps it.
    process.kill(node1.daemonPid!, 'SIGTERM');
    await until('r2:eth1 shows NO-CARRIER while node1\'s daemon is down', () => linkIn('r2', 'eth1')?.carrier === false);
    assert.equal(linkIn('r2', 'eth2')?.carrier, true);
    assert.deepEqual((await nodeWires(n2)).map((w) => [w.podIntf, w.carrier]).sort(), [['eth1', false], ['eth2', true]], 'telemetry agrees');
    await restartDaemon(state, node1);
    // Both peers of node1 (node2 for r2, node3 for r3) see it back, each on its own probe.
    await until('carrier is back once node1\'s daemon answers', () => linkIn('r2', 'eth1')?.carrier === true && linkIn('r3', 'eth1')?.carrier === true);
    rows = await checkLinks(state, await topologies.list());
    assert.deepEqual(rows.map((r) => r.pass), [true, true, true], JSON.stringify(rows));
    assert.equal(linkIn('r1', 'eth1')!.index, before, 'the pod\'s interface was not re-created');
    assert.match(readFileSync(join(state.dir, 'nodes', 'node1', 'meshnetd.log'), 'utf8'), /wires: restart: restored 2 of 2 recorded wire ends/);

    // r1 is deleted: like an unplugged neighbour, r2 keeps its interface with NO-CARRIER (a
    // router's configuration on it survives), and gets carrier back when r1 returns.
    const farIndex = linkIn('r2', 'eth1')!.index;
    await stopPod(state, node1, r1);
    assert.equal(linkIn('r2', 'eth1')?.carrier, false, 'r2:eth1 stays, NO-CARRIER, while r1 is gone');
    assert.equal(linkIn('r2', 'eth2')?.carrier, true, 'r2 kept its wire to r3');
    assert.deepEqual((await nodeWires(n2)).map((w) => [w.podIntf, w.carrier, w.farGone]).sort(), [['eth1', false, true], ['eth2', true, false]], 'telemetry says why');
    const recorded = async (node: string) => (((await store.get('gwirekobjs', 'default', node)) as { status?: { grpcWireItems?: { local_pod_name: string; local_pod_iface_name: string }[] } } | undefined)
      ?.status?.grpcWireItems ?? []).map((i) => `${i.local_pod_name}:${i.local_pod_iface_name}`).sort();
    assert.deepEqual(await recorded('node1'), [], 'r1\'s records went with it');
    assert.deepEqual(await recorded('node2'), ['r2:eth1', 'r2:eth2'], 'r2 still holds both ends');
    const again = { ...r1, containerId: randomBytes(32).toString('hex') };
    state.pods[state.pods.indexOf(r1)] = again;
    await startPod(state, node1, again);
    rows = await checkLinks(state, await topologies.list());
    assert.deepEqual(rows.map((r) => r.pass), [true, true, true], JSON.stringify(rows));
    assert.equal(linkIn('r2', 'eth1')?.carrier, true);
    assert.equal(linkIn('r2', 'eth1')!.index, farIndex, 'r2:eth1 is the same interface as before r1 went');
  } finally {
    await labDown(spec.name, { runDir });
  }
  assert.deepEqual(leftovers(spec.name), []);
});
