// npm run bench: every benchmark prints a table and TARGET lines, and the run is written as JSON
// under bench/results/. Ratios are against baselines measured in the same run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join, resolve } from 'node:path';
import { findCniBinDir } from '../src/lab';
import { benchCniLatency } from './cni-latency';
import { benchThroughput } from './throughput';
import { benchScale } from './scale';
import { benchWire } from './wire';
import { benchWireHops } from './wire-hops';
import { benchNode } from './node';
import { benchContainers } from './containers';
import { targetLine, type Summary, type Target } from './stats';
import { updatePerformanceDoc } from './perf-doc';

function row(label: string, s: Summary): string {
  return `${label.padEnd(36)} ${s.median.toFixed(1).padStart(8)} ${s.p90.toFixed(1).padStart(8)} ${s.min.toFixed(1).padStart(8)}`;
}

async function main(): Promise<number> {
  // kubelet does not set it, and it adds ~55 ms to every Node start (measured here).
  delete process.env.NODE_EXTRA_CA_CERTS;
  const runs = Number(process.env.BENCH_RUNS ?? 30);
  const cniBinDir = findCniBinDir();
  const targets: Target[] = [];
  // BENCH_ONLY=latency,throughput,wire,hops,scale,node,containers runs a part (default: all).
  const only = new Set((process.env.BENCH_ONLY ?? 'latency,throughput,wire,hops,scale,node,containers').split(','));
  const json: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, kernel: release() };

  if (only.has('latency')) {
  console.log(`CNI ADD/DEL latency: ${runs} runs per path, pod with 4 same-node links, each plugin exec'd as a runtime does (through nsenter into the node netns)`);
  const lat = await benchCniLatency({ runs, warmup: 3, links: 4, cniBinDir });
  for (const [label, p] of [['with meshnetd (default)', lat.daemon], ['standalone (no daemon: a Node process per call)', lat.standalone],
    ['with meshnetd, Kubernetes store (API-server double in its own process, HTTPS, bearer token)', lat.kubernetes]] as const) {
    console.log(`\n${label}`);
    console.log(`${'  ms'.padEnd(36)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'min'.padStart(8)}`);
    console.log(row('  bridge ADD (reference)', p.bridgeAdd));
    console.log(row(`  meshnet ADD (${lat.links} veth links)`, p.meshnetAdd));
    console.log(row('  bridge DEL (reference)', p.bridgeDel));
    console.log(row(`  meshnet DEL (${lat.links} veth links)`, p.meshnetDel));
    console.log(row('  whole chain ADD (bridge+meshnet)', p.chainAdd));
  }
  console.log(`standalone meshnet ADD / bridge ADD: ${(lat.standalone.meshnetAdd.median / lat.standalone.bridgeAdd.median).toFixed(2)}x ` +
    `(Node start-up alone is ~30 ms here; that is why the daemon serves the calls)`);
  targets.push(...lat.targets);
  json.cniLatency = lat;
  }

  if (only.has('throughput')) {
  console.log(`\nTCP throughput, one iperf3 stream, Gbit/s (baselines made by hand between the same pods in this run)`);
  const tp = await benchThroughput(cniBinDir);
  console.log(`  plain veth (kernel defaults)         ${tp.gbps.directVeth.toFixed(2).padStart(7)}`);
  console.log(`  meshnet veth link (same node)        ${tp.gbps.meshnetVeth.toFixed(2).padStart(7)}   tx offloads off (default, as upstream)`);
  console.log(`  meshnet veth link, offloads kept     ${tp.gbps.meshnetVethOffloads.toFixed(2).padStart(7)}   disable_tx_offloads: false`);
  console.log(`  plain kernel VXLAN (two nodes)       ${tp.gbps.kernelVxlan.toFixed(2).padStart(7)}`);
  console.log(`  meshnet VXLAN link (two nodes)       ${tp.gbps.meshnetVxlan.toFixed(2).padStart(7)}`);
  console.log(`  plain kernel VXLAN (grpc-wire lab)   ${tp.gbps.kernelVxlanForWire.toFixed(2).padStart(7)}`);
  console.log(`  meshnet grpc-wire link (two nodes)   ${tp.gbps.grpcWire.toFixed(2).padStart(7)}`);
  targets.push(...tp.targets);
  json.throughput = tp;
  }

  if (only.has('wire')) {
    console.log('\ngrpc-wire vs kernel VXLAN between the same two pods (two nodes)');
    const w = await benchWire(cniBinDir);
    console.log(`  ping RTT ms, ${1000} probes       p50 ${w.rttMs.wire.p50.toFixed(3)} p99 ${w.rttMs.wire.p99.toFixed(3)} (VXLAN p50 ${w.rttMs.vxlan.p50.toFixed(3)} p99 ${w.rttMs.vxlan.p99.toFixed(3)})`);
    console.log(`  ping RTT ms, ${300} probes 20 ms apart  grpc-wire p50 ${w.spacedRttMs.wire.p50.toFixed(3)}, C relay (socat, PF_PACKET + UDP) p50 ${w.spacedRttMs.cRelay.p50.toFixed(3)}`);
    console.log(`  64-byte frames delivered per s    ${w.smallFramesPps.wire.toFixed(0)} (VXLAN ${w.smallFramesPps.vxlan.toFixed(0)})`);
    console.log(`  SIGKILL + restart of a node's meshnetd during a ping flood: first answered ping ${w.restartRecoveryS.toFixed(3)} s after the start; frames on a wrong wire: ${w.misdelivered}`);
    console.log(`  1500 grpc-wires, 2 pods on 2 nodes: ${w.wires1500.passed} proven in ${w.wires1500.upS.toFixed(1)} s; meshnetd RSS ${w.wires1500.rssMb.toFixed(0)} MB; idle CPU ${w.wires1500.idleCpuPct.toFixed(2)} % of a core`);
    targets.push(...w.targets);
    json.wire = w;
  }

  if (only.has('node')) {
    console.log('\nA node under containerd (one containerd per lab node, pods made through its CRI as a kubelet makes them)');
    const nb = await benchNode(cniBinDir);
    const s = nb.sandbox;
    console.log(`  RunPodSandbox, median of ${s.meshnetMs.runs} (ms)  meshnet chain (${s.links} veth links) ${s.meshnetMs.median.toFixed(1)}, primary alone ${s.primaryMs.median.toFixed(1)}: ${s.ratio.toFixed(2)}x`);
    console.log(`  meshnetd exit on SIGTERM with a peer node (ms, median of ${nb.sigtermExitMs.grpc.runs})  grpc-wire ${nb.sigtermExitMs.grpc.median.toFixed(0)} (max ${nb.sigtermExitMs.grpc.max.toFixed(0)}), VXLAN ${nb.sigtermExitMs.vxlan.median.toFixed(0)} (max ${nb.sigtermExitMs.vxlan.max.toFixed(0)})`);
    const r = nb.rollout;
    console.log(`  rolling restart of 2 nodes' meshnetd while ${r.pods} pods were sandboxed back to back: ${r.refused} sandbox attempts refused (error 11, retried), longest wait for a pod ${r.longestWaitMs.toFixed(0)} ms, every link passes: ${r.allLinked}`);
    targets.push(...nb.targets);
    json.node = nb;
  }

  if (only.has('containers')) {
    const c = await benchContainers(cniBinDir);
    console.log(`\nContainer pods: a ${c.pods}-pod ring over 2 nodes, up with every link proven (wall clock)`);
    console.log(`  bare pods (network namespaces)      ${(c.bareMs / 1000).toFixed(2)} s${c.bareProven ? '' : ' (NOT every link proven)'}`);
    console.log(`  busybox containers via containerd   ${(c.containerMs / 1000).toFixed(2)} s${c.containerProven ? '' : ' (NOT every link proven)'}  (containerd per node and the image import included)`);
    targets.push(...c.targets);
    json.containers = c;
  }

  if (only.has('hops')) {
    const h = await benchWireHops(cniBinDir);
    console.log(`\ngrpc-wire round trip hop by hop (tcpdump on both pods and both nodes' underlay; ${h.probes} pings, 20 ms apart), microseconds`);
    console.log(`  ${'segment'.padEnd(40)} ${'p50'.padStart(8)} ${'p90'.padStart(8)}`);
    for (const s of h.segmentsUs) console.log(`  ${s.name.padEnd(40)} ${s.p50.toFixed(1).padStart(8)} ${s.p90.toFixed(1).padStart(8)}`);
    console.log(`  ${'round trip at the pods\' interfaces'.padEnd(40)} ${h.totalUs.toFixed(1).padStart(8)}`);
    console.log(`  ping p50: wire ${(h.pingWireMs * 1000).toFixed(0)} us, kernel VXLAN ${(h.pingVxlanMs * 1000).toFixed(0)} us (spaced pings: no busy-poll)`);
    json.hops = h;
  }

  if (only.has('scale')) {
    console.log('\nScale (KNE-like, no addresses: every link proven by Ethernet frames across it), wall clock');
    const sc = await benchScale(cniBinDir);
    const r = sc.ring150;
    const p = sc.links1500;
    console.log(`  150-pod ring, 2 nodes (VXLAN): up ${(r.upMs / 1000).toFixed(1)} s + proof of ${r.passed}/${r.links} links ${(r.checkMs / 1000).toFixed(1)} s = ${(r.totalMs / 1000).toFixed(1)} s; meshnetd RSS ${r.rssMb.map((x) => x.toFixed(0)).join(', ')} MB`);
    console.log(`  2 pods x 1500 links, 2 nodes (VXLAN): up ${(p.upMs / 1000).toFixed(1)} s + proof of ${p.passed} links ${(p.checkMs / 1000).toFixed(1)} s = ${(p.totalMs / 1000).toFixed(1)} s; down ${(p.downMs / 1000).toFixed(1)} s; meshnetd RSS ${p.rssMb.map((x) => x.toFixed(0)).join(', ')} MB`);
    console.log(`  a link added to the running ring (two Topologies edited) passes traffic after ${(sc.liveLinkAddMs / 1000).toFixed(2)} s`);
    targets.push(...sc.targets);
    json.scale = sc;
  }

  console.log('');
  for (const t of targets) console.log(targetLine(t));

  const dir = resolve('bench/results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  json.targets = targets;
  writeFileSync(join(dir, `bench-${stamp}.json`), JSON.stringify(json, null, 2));
  writeFileSync(join(dir, 'latest.json'), JSON.stringify(json, null, 2));
  console.log(`\nwrote bench/results/bench-${stamp}.json`);
  // The targets' one place in the docs: the rows of the targets this run measured are replaced.
  const command = process.env.BENCH_ONLY ? `BENCH_ONLY=${process.env.BENCH_ONLY} node dist/bench.cjs` : 'npm run bench';
  updatePerformanceDoc(resolve('docs/performance.md'), targets, new Date().toISOString().slice(0, 10), command);
  console.log('updated the targets table in docs/performance.md');
  return 0;
}

main().then((c) => { process.exitCode = c; }, (e) => {
  console.error(`bench failed: ${e instanceof Error ? e.stack : String(e)}`);
  process.exitCode = 1;
});
