// Live topology changes, made by meshnetd's reconciler without restarting a pod: a link added to
// two running pods' Topologies is plumbed, a removed one unplumbed, a changed address applied —
// for same-node (veth), cross-node (VXLAN) and grpc-wire links — and a pod moved to another
// node gets its links back.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { listNamedNetns } from '../../src/kernel';
import { checkLinks, labDaemonPids, labDown, labPrefix, labUp, processGone, restartDaemon, startPod, stopPod, type LabState } from '../../src/lab';
import { newPodState } from '../../src/lab/runtime';
import { openStore, type Store } from '../../src/store';
import { TopologyClient, type Link, type Topology } from '../../src/topology';
import { linkIn, linksWithAddrs } from '../helpers/netns';
import { twoPods } from '../helpers/lab-files';
import { until } from '../helpers/wait';

const runDir = mkdtempSync(join(tmpdir(), 'live-'));
const cniBinDir = resolve('dist/cni');
after(() => rmSync(runDir, { recursive: true, force: true }));
const uniq = () => `l${process.pid % 10000}${randomBytes(2).toString('hex')}`;

/** r1 and r2 (on n1 and n2: two nodes when `nodes` is 2) with one addressed link, uid 1. */
const pair = (name: string, nodes: 1 | 2, linkType?: 'grpc') => twoPods(name, { nodes, ...(linkType ? { linkType } : {}) });

/** Replaces a pod's links in the store, as `kubectl edit topo` would. */
async function setLinks(store: Store, pod: string, links: Link[]): Promise<void> {
  const cur = (await store.get('topologies', 'default', pod))!;
  await store.update('topologies', { ...cur, spec: { links } });
}

const link = (uid: number, local: string, peer: string, intf: string, ip: string, peerIp: string): Link =>
  ({ uid, peer_pod: peer, local_intf: intf, peer_intf: intf, local_ip: ip, peer_ip: peerIp, ...(local ? {} : {}) });

async function rows(state: LabState) {
  return checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
}


function links(state: LabState, pod: string): Map<string, { kind?: string; addrs: string[] }> {
  const p = state.pods.find((x) => x.name === pod)!;
  return new Map(linksWithAddrs(p.netns).filter((l) => l.name !== 'lo' && l.name !== 'eth0').map((l) => [l.name, { kind: l.kind, addrs: l.addrs }]));
}

function assertClean(name: string): void {
  assert.deepEqual([...listNamedNetns().filter((n) => n.startsWith(labPrefix(name))), ...labDaemonPids(name).map(String)], []);
}

const r1Links = (uid1Net: string, withUid2: boolean) => [link(1, 'r1', 'r2', 'eth1', `${uid1Net}.1/24`, `${uid1Net}.2/24`), ...(withUid2 ? [link(2, 'r1', 'r2', 'eth2', '10.2.2.1/24', '10.2.2.2/24')] : [])];
const r2Links = (uid1Net: string, withUid2: boolean) => [link(1, 'r2', 'r1', 'eth1', `${uid1Net}.2/24`, `${uid1Net}.1/24`), ...(withUid2 ? [link(2, 'r2', 'r1', 'eth2', '10.2.2.2/24', '10.2.2.1/24')] : [])];

// Per link type, one lab and a sequence of edits; each test checks one of them.
for (const [label, nodes, linkType, kind] of [['same node (veth)', 1, undefined, 'veth'], ['two nodes (VXLAN)', 2, undefined, 'vxlan'], ['two nodes (grpc-wire)', 2, 'grpc', 'grpc']] as const) {
  describe(label, () => {
    const name = uniq();
    let state: LabState;
    let store: Store;
    before(async () => {
      state = await labUp(pair(name, nodes, linkType), '(pair)', { runDir, cniBinDir });
      store = await openStore(state.store);
    });
    after(async () => {
      await labDown(name, { runDir });
    });

    test('a link added to both running pods\' Topologies is plumbed and passes traffic', async () => {
      await setLinks(store, 'r1', r1Links('10.1.1', true));
      await setLinks(store, 'r2', r2Links('10.1.1', true));
      await until('uid 2 passes traffic', async () => (await rows(state)).some((r) => r.uid === 2 && r.pass && r.kind === kind));
    });

    test('a changed address replaces the old one on both ends and passes traffic', async () => {
      await setLinks(store, 'r1', r1Links('10.9.9', true));
      await setLinks(store, 'r2', r2Links('10.9.9', true));
      await until('the new address on uid 1', async () => links(state, 'r1').get('eth1')?.addrs.join() === '10.9.9.1/24' && links(state, 'r2').get('eth1')?.addrs.join() === '10.9.9.2/24');
      await until('uid 1 passes traffic on the new addresses', async () => (await rows(state)).some((r) => r.uid === 1 && r.pass));
    });

    test('a link removed from both Topologies is unplumbed; the other link keeps passing', async () => {
      await setLinks(store, 'r1', r1Links('10.9.9', false));
      await setLinks(store, 'r2', r2Links('10.9.9', false));
      await until('eth2 gone from both pods', async () => !links(state, 'r1').has('eth2') && !links(state, 'r2').has('eth2'));
      assert.deepEqual((await rows(state)).map((r) => [r.uid, r.pass]), [[1, true]]);
    });

    test('lab down leaves nothing of the lab behind', async () => {
      await labDown(name, { runDir });
      assertClean(name);
    });
  });
}

test('a pod moved to another node (deleted there, created here) gets its links back: the VXLAN becomes a veth', async () => {
  const name = uniq();
  try {
    const state = await labUp(pair(name, 2), '(pair)', { runDir, cniBinDir });
    assert.equal((await rows(state))[0]!.kind, 'vxlan');
    const i = state.pods.findIndex((p) => p.name === 'r2');
    const old = state.pods[i]!;
    await stopPod(state, state.nodes.find((n) => n.name === 'n2')!, old);
    const moved = newPodState(name, { name: 'r2', namespace: 'default', node: 'n1' });
    state.pods[i] = moved;
    await startPod(state, state.nodes.find((n) => n.name === 'n1')!, moved);
    await until('the link passes traffic as a veth', async () => (await rows(state)).some((r) => r.uid === 1 && r.pass && r.kind === 'veth'));
  } finally {
    await labDown(name, { runDir });
  }
  assertClean(name);
});

test('a link whose peer comes up later passes traffic once the peer is up', async () => {
  const name = uniq();
  try {
    const spec = pair(name, 2);
    const state = await labUp({ ...spec, pods: spec.pods.filter((p) => p.name === 'r1') }, '(half)', { runDir, cniBinDir });
    const r2 = newPodState(name, { name: 'r2', namespace: 'default', node: 'n2' });
    state.pods.push(r2);
    await startPod(state, state.nodes.find((n) => n.name === 'n2')!, r2);
    await until('the link passes traffic', async () => (await rows(state)).some((r) => r.uid === 1 && r.pass));
    const topo: Topology | undefined = await new TopologyClient(await openStore(state.store)).get('default', 'r1');
    assert.equal(topo?.status?.plumbing_error, undefined);
  } finally {
    await labDown(name, { runDir });
  }
  assertClean(name);
});

test('a peer that goes away and comes back (a new sandbox) gets the link again', async () => {
  const name = uniq();
  try {
    const state = await labUp(pair(name, 2), '(pair)', { runDir, cniBinDir });
    const i = state.pods.findIndex((p) => p.name === 'r2');
    const n2 = state.nodes.find((n) => n.name === 'n2')!;
    await stopPod(state, n2, state.pods[i]!);
    // The far end goes with its pod, like a pulled cable (the DEL asks for it; a sync of r1 that
    // raced the DEL and saw r2 still up may make it once more, and the next sync removes it).
    await until('the far end gone with its pod', async () => !links(state, 'r1').has('eth1'));
    const again = newPodState(name, { name: 'r2', namespace: 'default', node: 'n2' });
    state.pods[i] = again;
    await startPod(state, n2, again);
    await until('the link passes traffic again', async () => (await rows(state)).some((r) => r.uid === 1 && r.pass));
  } finally {
    await labDown(name, { runDir });
  }
  assertClean(name);
});

test('a far end left by a DEL that could not reach its node is removed when that node\'s meshnetd is back', async () => {
  const name = uniq();
  try {
    const state = await labUp(pair(name, 2), '(pair)', { runDir, cniBinDir });
    const n1 = state.nodes.find((n) => n.name === 'n1')!;
    const n2 = state.nodes.find((n) => n.name === 'n2')!;
    process.kill(n2.daemonPid!, 'SIGKILL');
    await until('n2\'s meshnetd gone', async () => processGone(n2.daemonPid!));
    // r1's DEL asks n2 to remove r2's end: nobody answers, the DEL goes on (best effort).
    await stopPod(state, n1, state.pods.find((p) => p.name === 'r1')!);
    state.pods = state.pods.filter((p) => p.name !== 'r1');
    assert.equal(links(state, 'r2').get('eth1')?.kind, 'vxlan', 'the far end is still there');
    await restartDaemon(state, n2);
    await until('r2\'s stale VXLAN end removed', async () => !links(state, 'r2').has('eth1'));
  } finally {
    await labDown(name, { runDir });
  }
  assertClean(name);
});

test('a grpc-wire whose far pod\'s DEL could not reach this node goes NO-CARRIER once this node\'s meshnetd is back, and carrier returns with the far pod', async () => {
  const name = uniq();
  try {
    const state = await labUp(pair(name, 2, 'grpc'), '(pair)', { runDir, cniBinDir });
    const n1 = state.nodes.find((n) => n.name === 'n1')!;
    const n2 = state.nodes.find((n) => n.name === 'n2')!;
    const r2Intf = () => linkIn(state.pods.find((x) => x.name === 'r2')!.netns, 'eth1');
    const index = r2Intf()!.index;
    process.kill(n2.daemonPid!, 'SIGKILL');
    await until('n2\'s meshnetd gone', async () => processGone(n2.daemonPid!));
    const i = state.pods.findIndex((p) => p.name === 'r1');
    await stopPod(state, n1, state.pods[i]!);
    // The restarted daemon reattaches r2's wire (its peer node answers), then learns r1 is gone.
    await restartDaemon(state, n2);
    await until('r2:eth1 NO-CARRIER: its far pod is gone', async () => r2Intf()?.carrier === false);
    const again = newPodState(name, { name: 'r1', namespace: 'default', node: 'n1' });
    state.pods[i] = again;
    await startPod(state, n1, again);
    await until('the link passes traffic again', async () => (await rows(state)).some((r) => r.uid === 1 && r.pass));
    assert.equal(r2Intf()?.carrier, true);
    assert.equal(r2Intf()!.index, index, 'r2:eth1 was never re-created');
  } finally {
    await labDown(name, { runDir });
  }
  assertClean(name);
});

for (const linkType of [undefined, 'grpc'] as const) {
  test(`a pod whose peer's node daemon is down still starts; the link is made when that daemon is back (${linkType ?? 'vxlan'})`, async () => {
    const name = uniq();
    try {
      const state = await labUp(pair(name, 2, linkType), '(pair)', { runDir, cniBinDir });
      const n1 = state.nodes.find((n) => n.name === 'n1')!;
      const n2 = state.nodes.find((n) => n.name === 'n2')!;
      const i = state.pods.findIndex((p) => p.name === 'r1');
      await stopPod(state, n1, state.pods[i]!);
      process.kill(n2.daemonPid!, 'SIGKILL');
      await until('n2\'s meshnetd gone', async () => processGone(n2.daemonPid!));
      // r1 comes back while n2 cannot answer for r2's end: its ADD must not fail for that.
      const again = newPodState(name, { name: 'r1', namespace: 'default', node: 'n1' });
      state.pods[i] = again;
      await startPod(state, n1, again);
      await restartDaemon(state, n2);
      await until('the link passes traffic', async () => (await rows(state)).some((r) => r.uid === 1 && r.pass));
    } finally {
      await labDown(name, { runDir });
    }
    assertClean(name);
  });
}
