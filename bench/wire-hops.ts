// Where a grpc-wire round trip spends its time, hop by hop (issue 9: "show, with profiles,
// exactly where the remaining time goes"). Four tcpdumps share the kernel's clock: on both pods'
// wire interfaces (ICMP) and on both nodes' underlay (the gRPC streams' TCP segments). Each ping
// runs alone (20 ms apart), so the first data segment after a frame leaves a pod is that frame's.
// Seven segments per round trip: A's daemon pod→stream, the fabric, B's daemon stream→pod, pod B
// answering, and the same three back. Printed as medians; no TARGET (a diagnosis, not a goal).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { withLinkedPair } from './throughput';

export interface HopProfile {
  probes: number;
  /** Median microseconds per segment, in path order. */
  segmentsUs: { name: string; p50: number; p90: number }[];
  /** Median of the segments' sum (the round trip as the pods' interfaces see it). */
  totalUs: number;
  /** ping's own p50 (ms) over the wire, and over kernel VXLAN between the same pods. */
  pingWireMs: number;
  pingVxlanMs: number;
}

interface Capture { proc: ChildProcess; lines: string[]; ready: Promise<void> }

/** tcpdump in netns `ns` on `intf`, nanosecond kernel timestamps, one line per packet. */
function capture(ns: string, intf: string, filter: string): Capture {
  const proc = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', intf, '-n', '-l', '-tt', '--nano', '-Q', 'inout', filter], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
  const ready = new Promise<void>((resolve, reject) => {
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`tcpdump -i ${intf} in ${ns} exited ${code}: ${err.trim()}`)));
  });
  return { proc, lines, ready };
}

const stamp = (l: string) => Number(l.slice(0, l.indexOf(' ')));

/** ICMP echo request or reply lines by sequence number. */
function icmpBySeq(lines: string[], kind: 'request' | 'reply'): Map<number, number> {
  const out = new Map<number, number>();
  for (const l of lines) {
    const m = / ICMP echo (request|reply), id \d+, seq (\d+)/.exec(l);
    if (m && m[1] === kind && !out.has(Number(m[2]))) out.set(Number(m[2]), stamp(l));
  }
  return out;
}

/** Timestamps of TCP segments with payload sent by `src` (an IP address). */
function dataFrom(lines: string[], src: string): number[] {
  return lines.filter((l) => l.includes(` IP ${src}.`) && !/ length 0$/.test(l)).map(stamp);
}

/** The last of `ts` in [from, to]. */
const lastIn = (ts: number[], from: number, to: number) => ts.filter((x) => x >= from && x <= to).at(-1);

function quantile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}

/** ping's p50 (ms); spawned, not spawnSync: the tcpdumps' output must be read meanwhile. */
async function pingP50(ns: string, ip: string, count: number): Promise<number> {
  const proc = spawn('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', String(count), '-i', '0.02', '-W', '1', ip], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  await new Promise((r) => proc.once('exit', r));
  return quantile([...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])), 0.5);
}

export async function benchWireHops(cniBinDir: string, probes = 300): Promise<HopProfile> {
  const lab = `wh${process.pid % 100000}`;
  return withLinkedPair(lab, ['n1', 'n2'], cniBinDir, { interNodeLinkType: 'grpc' }, async ({ state, pa, pb }) => {
    const [na, nb] = [state.nodes.find((n) => n.name === pa.node)!, state.nodes.find((n) => n.name === pb.node)!];
    await pingP50(pa.netns, '10.77.0.2', 20); // ARP and streams warm
    const caps = {
      podA: capture(pa.netns, 'eth1', 'icmp'),
      podB: capture(pb.netns, 'eth1', 'icmp'),
      nodeA: capture(na.netns, 'eth0', 'tcp'),
      nodeB: capture(nb.netns, 'eth0', 'tcp'),
    };
    try {
      await Promise.all(Object.values(caps).map((c) => c.ready));
      const pingWireMs = await pingP50(pa.netns, '10.77.0.2', probes);
      await new Promise((r) => setTimeout(r, 300)); // the last lines reach tcpdump's output
      const reqA = icmpBySeq(caps.podA.lines, 'request');
      const repA = icmpBySeq(caps.podA.lines, 'reply');
      const reqB = icmpBySeq(caps.podB.lines, 'request');
      const repB = icmpBySeq(caps.podB.lines, 'reply');
      const aOut = dataFrom(caps.nodeA.lines, na.underlayIp);
      const bIn = dataFrom(caps.nodeB.lines, na.underlayIp);
      const bOut = dataFrom(caps.nodeB.lines, nb.underlayIp);
      const aIn = dataFrom(caps.nodeA.lines, nb.underlayIp);
      const names = ['A daemon: pod frame -> gRPC stream', 'fabric A -> B', 'B daemon: gRPC stream -> pod', 'pod B answers',
        'B daemon: pod frame -> gRPC stream', 'fabric B -> A', 'A daemon: gRPC stream -> pod'];
      const segs: number[][] = names.map(() => []);
      const totals: number[] = [];
      for (const [seq, t0] of reqA) {
        const t3 = reqB.get(seq);
        const t4 = repB.get(seq);
        const t7 = repA.get(seq);
        if (t3 === undefined || t4 === undefined || t7 === undefined) continue;
        // A frame may leave in more than one segment: a hop ends with the last one before the
        // frame shows up at the far side.
        const t1 = lastIn(aOut, t0, t3);
        const t2 = lastIn(bIn, t0, t3);
        const t5 = lastIn(bOut, t4, t7);
        const t6 = lastIn(aIn, t4, t7);
        const ts = [t0, t1, t2, t3, t4, t5, t6, t7];
        if (ts.some((t) => t === undefined)) continue;
        const d = ts.slice(1).map((t, i) => (t! - ts[i]!) * 1e6);
        // A segment matched to a later ping's traffic (a reordering, a lost line) is not this ping's.
        if (d.some((x) => x < 0 || x > 20_000)) continue;
        d.forEach((x, i) => segs[i]!.push(x));
        totals.push((t7! - t0) * 1e6);
      }
      if (totals.length < probes / 2) throw new Error(`only ${totals.length} of ${probes} pings could be followed hop by hop`);
      const pingVxlanMs = await pingP50(pa.netns, '10.78.0.2', probes);
      return {
        probes: totals.length, totalUs: quantile(totals, 0.5), pingWireMs, pingVxlanMs,
        segmentsUs: names.map((name, i) => ({ name, p50: quantile(segs[i]!, 0.5), p90: quantile(segs[i]!, 0.9) })),
      };
    } finally {
      for (const c of Object.values(caps)) c.proc.kill('SIGTERM');
      await Promise.all(Object.values(caps).map((c) => c.proc.exitCode !== null ? undefined : new Promise((r) => c.proc.once('exit', r))));
    }
  });
}
