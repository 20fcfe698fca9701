// Two topologies in two namespaces reusing the same link uids across the same two nodes (KNE
// numbers every topology's links from 0): with KNE's VNI scheme, the default, every link passes
// traffic; with upstream's 5000 + uid the second namespace's links would take VNIs already in use,
// and are left out naming the link that holds them, never failing with a bare EEXIST.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NetNs, Rtnl, listNamedNetns } from '../../src/kernel';
import { checkLinks, labDaemonPids, labDown, labPrefix, labUp, parseLabFile } from '../../src/lab';
import { vniOf } from '../../src/plumbing/vxlan';
import { openStore } from '../../src/store';
import { TopologyClient } from '../../src/topology';

const runDir = mkdtempSync(join(tmpdir(), 'labvni-'));
const cniBinDir = resolve('dist/cni');
after(() => rmSync(runDir, { recursive: true, force: true }));

/** Namespaces ns1 and ns2, each a pair a (node1) – b (node2) with links uid 1 and 2, addressed per namespace. */
function spec(name: string, scheme?: 'upstream') {
  const pods = ['ns1', 'ns2'].flatMap((ns) => [`{name: a, namespace: ${ns}, node: node1}`, `{name: b, namespace: ${ns}, node: node2}`]);
  const topos = ['ns1', 'ns2'].flatMap((ns, i) => ['a', 'b'].map((pod, j) => `
  - metadata: {name: ${pod}, namespace: ${ns}}
    spec:
      links:
        - {uid: 1, peer_pod: ${pod === 'a' ? 'b' : 'a'}, local_intf: eth1, peer_intf: eth1, local_ip: 10.${i + 1}.1.${j + 1}/24, peer_ip: 10.${i + 1}.1.${2 - j}/24}
        - {uid: 2, peer_pod: ${pod === 'a' ? 'b' : 'a'}, local_intf: eth2, peer_intf: eth2, local_ip: 10.${i + 1}.2.${j + 1}/24, peer_ip: 10.${i + 1}.2.${2 - j}/24}`));
  return parseLabFile(`
name: ${name}
${scheme ? `vni_scheme: ${scheme}` : ''}
nodes: [node1, node2]
pods: [${pods.join(', ')}]
topologies:${topos.join('')}
`);
}

function vxlanVni(netns: string, intf: string): number | undefined {
  const ns = NetNs.open(netns);
  const r = Rtnl.open(ns);
  try {
    return r.link(intf)?.vxlan?.vni;
  } finally {
    r.close();
    ns.close();
  }
}

test('KNE\'s VNI scheme (default): the same uids in two namespaces across two nodes all pass traffic, on distinct VNIs', async () => {
  const name = `v${process.pid % 10000}${randomBytes(2).toString('hex')}`;
  try {
    const state = await labUp(spec(name), '(two namespaces)', { runDir, cniBinDir });
    const topos = await new TopologyClient(await openStore(state.store)).list();
    const rows = await checkLinks(state, topos);
    assert.deepEqual(rows.map((r) => [r.namespace, r.uid, r.kind, r.pass]).sort(), [
      ['ns1', 1, 'vxlan', true], ['ns1', 2, 'vxlan', true], ['ns2', 1, 'vxlan', true], ['ns2', 2, 'vxlan', true]]);
    const a1 = state.pods.find((p) => p.namespace === 'ns1' && p.name === 'a')!;
    const a2 = state.pods.find((p) => p.namespace === 'ns2' && p.name === 'a')!;
    assert.equal(vxlanVni(a1.netns, 'eth1'), vniOf(1, 'ns1'));
    assert.equal(vxlanVni(a2.netns, 'eth1'), vniOf(1, 'ns2'));
    assert.notEqual(vniOf(1, 'ns1'), vniOf(1, 'ns2'));
    for (const t of topos) assert.equal(t.status?.plumbing_error, undefined);
  } finally {
    await labDown(name, { runDir });
  }
  assert.deepEqual([...listNamedNetns().filter((n) => n.startsWith(labPrefix(name))), ...labDaemonPids(name)], []);
});

test('upstream\'s VNI scheme: the second namespace\'s links would reuse VNIs in use; they are left out, plumbing_error names the holder, no EEXIST', async () => {
  const name = `v${process.pid % 10000}${randomBytes(2).toString('hex')}`;
  try {
    const state = await labUp(spec(name, 'upstream'), '(two namespaces)', { runDir, cniBinDir });
    const client = new TopologyClient(await openStore(state.store));
    const rows = await checkLinks(state, await client.list('ns1'));
    assert.deepEqual(rows.map((r) => [r.uid, r.pass]), [[1, true], [2, true]], 'the first namespace keeps VNIs 5001 and 5002');
    const b2 = (await client.get('ns2', 'b'))!;
    assert.match(b2.status?.plumbing_error ?? '', /^link uid 1 \(b:eth1 – a:eth1\): VXLAN VNI 5001 \(vni_scheme upstream\) is already used by link uid 1 in namespace ns1 .*; link uid 2 \(b:eth2 – a:eth2\): VXLAN VNI 5002/);
    assert.doesNotMatch(b2.status?.plumbing_error ?? '', /EEXIST/);
    const pb2 = state.pods.find((p) => p.namespace === 'ns2' && p.name === 'b')!;
    assert.equal(vxlanVni(pb2.netns, 'eth1'), undefined, 'nothing half-made');
  } finally {
    await labDown(name, { runDir });
  }
  assert.deepEqual([...listNamedNetns().filter((n) => n.startsWith(labPrefix(name))), ...labDaemonPids(name)], []);
});
