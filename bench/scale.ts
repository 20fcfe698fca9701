// Scale, KNE-like: a 150-pod ring over two lab nodes, and two pods on two nodes joined by 1,500
// links, none with addresses (as KNE makes them), each link proven by Ethernet frames across it;
// meshnetd's memory at both sizes; and how fast a link added to a running topology carries
// traffic. Wall-clock targets, the lab's own work included (fabric, nodes, daemons, the CNI chain).
import { readFileSync } from 'node:fs';
import { checkLinks, labDown, labUp, parseLabFile, type LabSpec, type LabState } from '../src/lab';
import { openStore } from '../src/store';
import { TopologyClient, type Topology } from '../src/topology';
import { target, type Target } from './stats';

export interface ScaleResult {
  ring150: { upMs: number; checkMs: number; totalMs: number; links: number; passed: number; rssMb: number[] };
  links1500: { upMs: number; checkMs: number; totalMs: number; passed: number; downMs: number; rssMb: number[] };
  liveLinkAddMs: number;
  targets: Target[];
}

export function ringSpec(name: string, n: number, nodes: number, image?: { image: string; command: string[] }): LabSpec {
  const pods = Array.from({ length: n }, (_, i) => `r${i + 1}`);
  return parseLabFile(JSON.stringify({
    name,
    nodes: Array.from({ length: nodes }, (_, i) => `n${i + 1}`),
    pods: pods.map((p, i) => ({ name: p, node: `n${(i % nodes) + 1}`, ...image })),
    topologies: pods.map((p, i) => ({
      metadata: { name: p },
      spec: { links: [
        { uid: i + 1, peer_pod: pods[(i + 1) % n], local_intf: 'eth1', peer_intf: 'eth2' },
        { uid: ((i - 1 + n) % n) + 1, peer_pod: pods[(i - 1 + n) % n], local_intf: 'eth2', peer_intf: 'eth1' },
      ] },
    })),
  }));
}

export function pairSpec(name: string, links: number, interNodeLinkType?: 'grpc'): LabSpec {
  const side = (me: string, peer: string) => ({
    metadata: { name: me },
    spec: { links: Array.from({ length: links }, (_, i) => ({ uid: i, peer_pod: peer, local_intf: `e${i}`, peer_intf: `e${i}` })) },
  });
  return parseLabFile(JSON.stringify({ name, ...(interNodeLinkType ? { inter_node_link_type: interNodeLinkType } : {}), nodes: ['n1', 'n2'], pods: [{ name: 'a', node: 'n1' }, { name: 'b', node: 'n2' }], topologies: [side('a', 'b'), side('b', 'a')] }));
}

export function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export async function proveAll(state: LabState): Promise<{ ms: number; passed: number; total: number }> {
  const t0 = performance.now();
  const rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
  return { ms: performance.now() - t0, passed: rows.filter((r) => r.pass).length, total: rows.length };
}

export async function benchScale(cniBinDir: string): Promise<ScaleResult> {
  const ringName = `sr${process.pid % 10000}`;
  const pairName = `sp${process.pid % 10000}`;
  for (const n of [ringName, pairName]) await labDown(n).catch(() => undefined);

  // The ring, then a link added to it while it runs.
  let ring: ScaleResult['ring150'];
  let liveLinkAddMs: number;
  try {
    const t0 = performance.now();
    const state = await labUp(ringSpec(ringName, 150, 2), '(bench ring)', { cniBinDir });
    const upMs = performance.now() - t0;
    const proof = await proveAll(state);
    ring = { upMs, checkMs: proof.ms, totalMs: performance.now() - t0, links: proof.total, passed: proof.passed, rssMb: state.nodes.map((n) => rssMb(n.daemonPid)) };
    // r1 (n1) and r4 (n2) get a new link: both Topologies updated, as kubectl edit would.
    const client = new TopologyClient(await openStore(state.store));
    const add = async (me: string, peer: string) => {
      const cur = (await client.get('default', me))!;
      await client.store.update('topologies', { ...cur, spec: { links: [...cur.spec.links, { uid: 1000, peer_pod: peer, local_intf: 'eth9', peer_intf: 'eth9' }] } } as unknown as Parameters<typeof client.store.update>[1]);
    };
    const t1 = performance.now();
    await add('r1', 'r4');
    await add('r4', 'r1');
    for (;;) {
      const rows = await checkLinks(state, [(await client.get('default', 'r1')) as Topology].filter(Boolean));
      if (rows.find((r) => r.uid === 1000)?.pass) break;
      if (performance.now() - t1 > 30_000) throw new Error('the added link did not pass traffic within 30 s');
    }
    liveLinkAddMs = performance.now() - t1;
  } finally {
    await labDown(ringName);
  }

  let pair: ScaleResult['links1500'];
  try {
    const t0 = performance.now();
    const state = await labUp(pairSpec(pairName, 1500), '(bench 1500 links)', { cniBinDir });
    const upMs = performance.now() - t0;
    const proof = await proveAll(state);
    const totalMs = performance.now() - t0;
    const rss = state.nodes.map((n) => rssMb(n.daemonPid));
    const t1 = performance.now();
    await labDown(pairName);
    pair = { upMs, checkMs: proof.ms, totalMs, passed: proof.passed, downMs: performance.now() - t1, rssMb: rss };
  } finally {
    await labDown(pairName).catch(() => undefined);
  }

  const maxRss = Math.max(...ring.rssMb, ...pair.rssMb);
  return {
    ring150: ring, links1500: pair, liveLinkAddMs,
    targets: [
      target('ring150-bringup', ring.passed === ring.links ? ring.totalMs / 1000 : Infinity, 10, 'max', 's'),
      target('links1500-bringup', pair.passed === 1500 ? pair.totalMs / 1000 : Infinity, 15, 'max', 's'),
      target('links1500-teardown', pair.downMs / 1000, 15, 'max', 's'),
      target('daemon-rss', maxRss, 128, 'max', 'MB'),
      target('live-link-add', liveLinkAddMs / 1000, 1, 'max', 's'),
    ],
  };
}
