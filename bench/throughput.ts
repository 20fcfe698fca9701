// TCP throughput across meshnet links against kernel baselines made by hand in the same run,
// between the same two pods over the same underlay: a meshnet veth link vs a plain veth, and a
// meshnet VXLAN link (two nodes) vs a plain kernel VXLAN. One iperf3 stream each, like the project's
// baselines. Shows what meshnet's choices cost (upstream turns tx offloads off on veth links).
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetNs, Rtnl } from '../src/kernel';
import { labDown, labUp, type LabSpec, type LabState, type PodState } from '../src/lab';
import { target, type Target } from './stats';

const SECONDS = Number(process.env.BENCH_IPERF_SECONDS ?? 4);

/**
 * Runs `fn` while a one-shot iperf3 server listens in netns `server` (on a port of this run's),
 * and stops the server afterwards. `fn` gets the port.
 */
export async function withIperfServer<T>(server: string, fn: (port: string) => T): Promise<T> {
  const port = String(5201 + (process.pid % 1000));
  const srv = spawn('ip', ['netns', 'exec', server, 'iperf3', '-s', '-1', '-p', port], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100; i++) {
      const probe = spawnSync('ip', ['netns', 'exec', server, 'ss', '-ltnH', `sport = :${port}`], { encoding: 'utf8' });
      if (probe.stdout.trim()) break;
      await sleep(20);
    }
    return fn(port);
  } finally {
    srv.kill();
  }
}

/** Gbit/s of one iperf3 TCP stream from netns `client` to `serverIp` served in netns `server`. */
export async function iperf(server: string, client: string, serverIp: string): Promise<number> {
  return withIperfServer(server, (port) => {
    const r = spawnSync('ip', ['netns', 'exec', client, 'iperf3', '-c', serverIp, '-p', port, '-t', String(SECONDS), '-J'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`iperf3 ${client} -> ${serverIp} failed: ${r.stdout.slice(0, 300)} ${r.stderr}`);
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  });
}

interface PairOptions {
  meshnet?: LabSpec['meshnet'];
  interNodeLinkType?: LabSpec['interNodeLinkType'];
  /** A second meshnet link, eth2, without addresses (for Ethernet-frame probes). */
  secondLink?: boolean;
}

function pair(lab: string, nodes: [string, string], o: PairOptions): LabSpec {
  const { meshnet, interNodeLinkType } = o;
  const link = (peer: string, mine: string, theirs: string) => [
    { uid: 1, peer_pod: peer, local_intf: 'eth1', peer_intf: 'eth1', local_ip: mine, peer_ip: theirs },
    ...(o.secondLink ? [{ uid: 2, peer_pod: peer, local_intf: 'eth2', peer_intf: 'eth2' }] : []),
  ];
  return {
    name: lab,
    ...(meshnet ? { meshnet } : {}),
    ...(interNodeLinkType ? { interNodeLinkType } : {}),
    nodes: [...new Set(nodes)].map((name) => ({ name })),
    pods: [{ name: 'a', namespace: 'default', node: nodes[0] }, { name: 'b', namespace: 'default', node: nodes[1] }],
    topologies: [
      { apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: 'a', namespace: 'default' }, spec: { links: link('b', '10.77.0.1/24', '10.77.0.2/24') } },
      { apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: 'b', namespace: 'default' }, spec: { links: link('a', '10.77.0.2/24', '10.77.0.1/24') } },
    ],
  };
}

/**
 * One lab with pods a and b (same node or two nodes) linked by meshnet (10.77.0.1 - .2), plus a
 * baseline link between the same two pods made by hand with kernel defaults (a veth, or a VXLAN
 * over the same underlay; 10.78.0.1 - .2): the two differ only in what meshnet chooses. `fn` runs
 * with both up; the lab is removed afterwards.
 */
export async function withLinkedPair<T>(lab: string, nodes: [string, string], cniBinDir: string, o: PairOptions,
  fn: (ctx: { state: LabState; pa: PodState; pb: PodState }) => Promise<T>): Promise<T> {
  await labDown(lab).catch(() => undefined);
  try {
    const state = await labUp(pair(lab, nodes, o), '(bench)', { cniBinDir });
    const [pa, pb] = state.pods as [PodState, PodState];
    const [na, nb] = [state.nodes.find((n) => n.name === pa.node)!, state.nodes.find((n) => n.name === pb.node)!];
    withRtnl([pa.netns, pb.netns, na.netns, nb.netns], ([ra, rb, rna, rnb], [nsa, nsb]) => {
      if (na === nb) {
        ra!.createVeth({ name: 'base0', peerName: 'base0', peerNs: nsb });
      } else {
        rna!.createVxlan({ name: 'base0', vni: 9999, local: na.underlayIp, remote: nb.underlayIp, dev: 'eth0', mtu: 1450, ns: nsa });
        rnb!.createVxlan({ name: 'base0', vni: 9999, local: nb.underlayIp, remote: na.underlayIp, dev: 'eth0', mtu: 1450, ns: nsb });
      }
      ra!.addAddr('base0', '10.78.0.1/24');
      rb!.addAddr('base0', '10.78.0.2/24');
      ra!.setUp('base0');
      rb!.setUp('base0');
    });
    return await fn({ state, pa, pb });
  } finally {
    await labDown(lab);
  }
}

async function labLink(lab: string, nodes: [string, string], cniBinDir: string, meshnet?: LabSpec['meshnet'], interNodeLinkType?: LabSpec['interNodeLinkType']): Promise<{ meshnet: number; baseline: number }> {
  return withLinkedPair(lab, nodes, cniBinDir, { ...(meshnet ? { meshnet } : {}), ...(interNodeLinkType ? { interNodeLinkType } : {}) },
    async ({ pa, pb }) => ({ meshnet: await iperf(pb.netns, pa.netns, '10.77.0.2'), baseline: await iperf(pb.netns, pa.netns, '10.78.0.2') }));
}

/** Opens netns handles and rtnetlink sockets for `names`, runs fn, closes everything. */
function withRtnl(names: string[], fn: (rt: Rtnl[], ns: NetNs[]) => void): void {
  const ns = names.map((n) => NetNs.open(n));
  const rt = ns.map((n) => Rtnl.open(n));
  try {
    fn(rt, ns);
  } finally {
    for (const r of rt) r.close();
    for (const n of ns) n.close();
  }
}

export interface ThroughputResult {
  seconds: number;
  gbps: { directVeth: number; meshnetVeth: number; meshnetVethOffloads: number; kernelVxlan: number; meshnetVxlan: number; grpcWire: number; kernelVxlanForWire: number };
  targets: Target[];
}

export async function benchThroughput(cniBinDir: string): Promise<ThroughputResult> {
  const tag = `tp${process.pid % 100000}`;
  const veth = await labLink(`${tag}v`, ['n1', 'n1'], cniBinDir);
  const vethOffloads = await labLink(`${tag}o`, ['n1', 'n1'], cniBinDir, { disable_tx_offloads: false });
  const vxlan = await labLink(`${tag}x`, ['n1', 'n2'], cniBinDir);
  const wire = await labLink(`${tag}g`, ['n1', 'n2'], cniBinDir, undefined, 'grpc');
  return {
    seconds: SECONDS,
    gbps: {
      directVeth: veth.baseline, meshnetVeth: veth.meshnet, meshnetVethOffloads: vethOffloads.meshnet,
      kernelVxlan: vxlan.baseline, meshnetVxlan: vxlan.meshnet, grpcWire: wire.meshnet, kernelVxlanForWire: wire.baseline,
    },
    targets: [
      // Upstream's default (offloads off) is reported as measured: a known, chosen cost.
      target('veth-link-throughput-vs-direct-veth', veth.meshnet / veth.baseline, 0.9, 'min', 'x'),
      target('veth-link-throughput-offloads-on-vs-direct-veth', vethOffloads.meshnet / vethOffloads.baseline, 0.9, 'min', 'x'),
      target('vxlan-link-throughput-vs-kernel-vxlan', vxlan.meshnet / vxlan.baseline, 0.9, 'min', 'x'),
      // First slice of the userspace wire: one frame per gRPC message. The goal is where batching
      // and GSO super-frames must take it (docs/grpc-wire-plan.md).
      target('grpc-wire-throughput-vs-kernel-vxlan', wire.meshnet / wire.baseline, 0.5, 'min', 'x'),
    ],
  };
}
