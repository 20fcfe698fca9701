// Links without addresses (as KNE makes them) are proven by Ethernet frames sent on one end and
// read on the other: veth, VXLAN and grpc-wire links pass; a VXLAN end with the wrong VNI, which
// is up but carries nothing, fails.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NetNs, Rtnl } from '../../src/kernel';
import { checkLinks, labDown, labUp, parseLabFile, processGone } from '../../src/lab';
import { probeLinks } from '../../src/lab/checks';
import { openStore } from '../../src/store';
import { TopologyClient } from '../../src/topology';

const runDir = mkdtempSync(join(tmpdir(), 'labprobe-'));
after(() => rmSync(runDir, { recursive: true, force: true }));

const spec = (name: string, linkType?: 'grpc') => parseLabFile(`
name: ${name}
${linkType ? `inter_node_link_type: ${linkType}` : ''}
nodes: [n1, n2]
pods: [{name: a, node: n1}, {name: b, node: n1}, {name: c, node: n2}]
topologies:
  - metadata: {name: a}
    spec: {links: [{uid: 0, peer_pod: b, local_intf: eth1, peer_intf: eth1}, {uid: 1, peer_pod: c, local_intf: eth2, peer_intf: eth1}]}
  - metadata: {name: b}
    spec: {links: [{uid: 0, peer_pod: a, local_intf: eth1, peer_intf: eth1}]}
  - metadata: {name: c}
    spec: {links: [{uid: 1, peer_pod: a, local_intf: eth1, peer_intf: eth2}]}
`);

for (const linkType of [undefined, 'grpc'] as const) {
  test(`links without addresses pass by frames across them (same node, and across nodes over ${linkType ?? 'VXLAN'})`, async () => {
    const name = `p${process.pid % 10000}${randomBytes(2).toString('hex')}`;
    try {
      const state = await labUp(spec(name, linkType), '(probe)', { runDir, cniBinDir: resolve('dist/cni') });
      const rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
      assert.deepEqual(rows.map((r) => [r.uid, r.kind, r.pass, r.traffic?.received]), [[0, 'veth', true, 3], [1, linkType ?? 'vxlan', true, 3]]);
      assert.match(rows[0]!.detail, /3\/3 frames \(no addresses: Ethernet frames across\)/);
    } finally {
      await labDown(name, { runDir });
    }
  });
}

test('frames count only on the far end of their own link (not on another pod or interface)', async () => {
  const name = `p${process.pid % 10000}${randomBytes(2).toString('hex')}`;
  try {
    const state = await labUp(spec(name), '(probe)', { runDir, cniBinDir: resolve('dist/cni') });
    const pod = (n: string) => state.pods.find((p) => p.name === n)!.netns;
    // a:eth1 is wired to b:eth1; the same frames claimed for c:eth1 (a:eth2's far end) must not pass.
    const res = await probeLinks([
      { a: { netns: pod('a'), intf: 'eth1' }, b: { netns: pod('b'), intf: 'eth1' } },
      { a: { netns: pod('a'), intf: 'eth1' }, b: { netns: pod('c'), intf: 'eth1' } },
      { a: { netns: pod('a'), intf: 'eth2' }, b: { netns: pod('b'), intf: 'eth1' } },
    ], 3, 300);
    assert.deepEqual(res.map((r) => r.received), [3, 0, 0]);
  } finally {
    await labDown(name, { runDir });
  }
});

test('a link that is up but carries nothing (a VXLAN end with the wrong VNI) fails the frame check', async () => {
  const name = `p${process.pid % 10000}${randomBytes(2).toString('hex')}`;
  try {
    const state = await labUp(spec(name), '(probe)', { runDir, cniBinDir: resolve('dist/cni') });
    // Node n2's daemon would mend the tampered end at its next sync: stop it first.
    const n2 = state.nodes.find((n) => n.name === 'n2')!;
    process.kill(n2.daemonPid!, 'SIGKILL');
    for (let i = 0; i < 100 && !processGone(n2.daemonPid!); i++) await sleep(20);
    const c = state.pods.find((p) => p.name === 'c')!;
    const ns = NetNs.open(c.netns);
    const node2 = NetNs.open(state.nodes.find((n) => n.name === 'n2')!.netns);
    const rt = Rtnl.open(ns);
    const rn = Rtnl.open(node2);
    try {
      const v = rt.link('eth1')!.vxlan!;
      rt.deleteLink('eth1');
      rn.createVxlan({ name: 'eth1', vni: v.vni + 1, local: v.local!, remote: v.remote!, dev: 'eth0', dstPort: 4789, mtu: 1450, ns });
      rt.setUp('eth1');
    } finally {
      rt.close();
      rn.close();
      ns.close();
      node2.close();
    }
    const rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
    const r = rows.find((x) => x.uid === 1)!;
    assert.deepEqual([r.state, r.pass, r.traffic?.received], ['up', false, 0]);
  } finally {
    await labDown(name, { runDir });
  }
});
