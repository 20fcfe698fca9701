/**
 * Frame I/O benchmark (standalone; needs root): `node --import tsx bench/packet-io.ts`
 *
 * 1. frames/s of batch send → recv across a veth pair between two namespaces, 1500-byte frames,
 *    batch 1 and 32, ~2 s each, one thread (send a batch, drain the far end, repeat).
 * 2. ping RTT pod A → pod B through an in-process PacketSocket relay (onReadable + recv → send)
 *    versus a direct veth between two namespaces.
 * 3. TCP through the relay with vnetHdr (GSO super-frames), iperf3 2 s, versus a direct veth.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createNamedNetns, deleteNamedNetns, NetNs, PacketSocket, Rtnl } from '../src/kernel/index';

const execFileP = promisify(execFile);

interface Ns { name: string; ns: NetNs; rtnl: Rtnl }
const live: Ns[] = [];
function netns(tag: string): Ns {
  const name = `pkbench-${tag}-${process.pid}-${randomBytes(2).toString('hex')}`;
  createNamedNetns(name);
  const ns = NetNs.open(name);
  const n = { name, ns, rtnl: Rtnl.open(ns) };
  live.push(n);
  return n;
}
function cleanup(): void {
  for (const n of live.splice(0)) {
    try { n.rtnl.close(); } catch { /* ignore */ }
    try { n.ns.close(); } catch { /* ignore */ }
    try { deleteNamedNetns(n.name); } catch { /* ignore */ }
  }
}

function frame(size: number): Buffer {
  const f = randomBytes(size);
  f.fill(0xff, 0, 6);
  f.writeUInt16BE(0x88b5, 12);
  return f;
}

function throughput(batch: number, seconds: number): { fps: number; gbps: number; sent: number; recvd: number } {
  const a = netns('a'), b = netns('b');
  a.rtnl.createVeth({ name: 'eth0', peerName: 'eth0', peerNs: b.ns });
  a.rtnl.setUp('eth0');
  b.rtnl.setUp('eth0');
  const tx = PacketSocket.open('eth0', { ns: a.ns, batch, sndbuf: 8 << 20 });
  const rx = PacketSocket.open('eth0', { ns: b.ns, batch, rcvbuf: 8 << 20 });
  try {
    const frames = Array.from({ length: batch }, () => frame(1500));
    let sent = 0, recvd = 0;
    const t0 = process.hrtime.bigint();
    const end = t0 + BigInt(Math.round(seconds * 1e9));
    let now = t0;
    while (now < end) {
      for (let k = 0; k < 64; k++) {
        sent += tx.send(frames);
        for (;;) {
          const got = rx.recv();
          if (got.length === 0) break;
          recvd += got.length;
        }
      }
      now = process.hrtime.bigint();
    }
    const secs = Number(now - t0) / 1e9;
    return { fps: recvd / secs, gbps: (recvd * 1500 * 8) / secs / 1e9, sent, recvd };
  } finally {
    tx.close();
    rx.close();
    cleanup();
  }
}

/** pod A —veth— nodeA[hosta] ⇄ relay ⇄ nodeB[hostb] —veth— pod B; returns pod names and a stop(). */
function relay(vnetHdr: boolean): { podA: string; podB: string; stop(): { dropped: number; superFrames: number } } {
  const podA = netns('pa'), nodeA = netns('na'), nodeB = netns('nb'), podB = netns('pb');
  podA.rtnl.createVeth({ name: 'eth0', peerName: 'hosta', peerNs: nodeA.ns });
  podB.rtnl.createVeth({ name: 'eth0', peerName: 'hostb', peerNs: nodeB.ns });
  podA.rtnl.addAddr('eth0', '10.79.0.1/24');
  podB.rtnl.addAddr('eth0', '10.79.0.2/24');
  const opts = { vnetHdr, rcvbuf: 8 << 20, sndbuf: 8 << 20 };
  const sa = PacketSocket.open('hosta', { ns: nodeA.ns, ...opts });
  const sb = PacketSocket.open('hostb', { ns: nodeB.ns, ...opts });
  for (const [n, dev] of [[podA, 'eth0'], [nodeA, 'hosta'], [nodeB, 'hostb'], [podB, 'eth0']] as const) n.rtnl.setUp(dev);
  let dropped = 0, superFrames = 0;
  const mtuFrame = 1514 + (vnetHdr ? 10 : 0);
  const pump = (from: PacketSocket, to: PacketSocket) => () => {
    for (;;) {
      const frames = from.recv();
      if (frames.length === 0) return;
      for (const f of frames) if (f.length > mtuFrame) superFrames++;
      dropped += frames.length - to.send(frames);
    }
  };
  const stops = [sa.onReadable(pump(sa, sb)), sb.onReadable(pump(sb, sa))];
  return {
    podA: podA.name,
    podB: podB.name,
    stop: () => {
      for (const s of stops) s();
      sa.close();
      sb.close();
      return { dropped, superFrames };
    },
  };
}

function direct(): { podA: string; podB: string } {
  const a = netns('da'), b = netns('db');
  a.rtnl.createVeth({ name: 'eth0', peerName: 'eth0', peerNs: b.ns });
  a.rtnl.addAddr('eth0', '10.79.0.1/24');
  b.rtnl.addAddr('eth0', '10.79.0.2/24');
  a.rtnl.setUp('eth0');
  b.rtnl.setUp('eth0');
  return { podA: a.name, podB: b.name };
}

async function pingRtt(podA: string): Promise<{ min: number; avg: number; max: number; loss: string }> {
  // async child: the relay runs on this event loop
  await execFileP('ip', ['netns', 'exec', podA, 'ping', '-c', '3', '-i', '0.05', '-W', '2', '10.79.0.2']); // warm ARP
  const { stdout } = await execFileP('ip', ['netns', 'exec', podA, 'ping', '-q', '-c', '200', '-i', '0.01', '-W', '2', '10.79.0.2']);
  const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\//.exec(stdout);
  const loss = /(\d+(?:\.\d+)?)% packet loss/.exec(stdout)?.[1] ?? '?';
  if (!m) throw new Error(`cannot parse ping output: ${stdout}`);
  return { min: Number(m[1]), avg: Number(m[2]), max: Number(m[3]), loss: `${loss}%` };
}

async function iperf(podA: string, podB: string): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', podB, 'iperf3', '-s', '-1', '-B', '10.79.0.2'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const { stdout } = await execFileP('ip', ['netns', 'exec', podA, 'iperf3', '-c', '10.79.0.2', '-t', '2', '-J'], { timeout: 20_000 });
    const j = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill();
  }
}

async function main(): Promise<void> {
  const rows: string[][] = [];
  for (const batch of [1, 32]) {
    const r = throughput(batch, 2);
    rows.push([`send→recv 1500 B, batch ${batch}`, `${Math.round(r.fps / 1000)}k frames/s`, `${r.gbps.toFixed(2)} Gbit/s, ${r.recvd}/${r.sent} received`]);
  }

  const d = direct();
  const dp = await pingRtt(d.podA);
  cleanup();
  const rl = relay(false);
  const rp = await pingRtt(rl.podA);
  const rs = rl.stop();
  cleanup();
  rows.push(['ping RTT, direct veth', `${dp.avg.toFixed(3)} ms avg`, `min ${dp.min} max ${dp.max} loss ${dp.loss}`]);
  rows.push(['ping RTT, PacketSocket relay', `${rp.avg.toFixed(3)} ms avg`, `min ${rp.min} max ${rp.max} loss ${rp.loss}, relay drops ${rs.dropped}`]);

  const hasIperf = await execFileP('sh', ['-c', 'command -v iperf3']).then(() => true, () => false);
  if (hasIperf) {
    const d2 = direct();
    const dg = await iperf(d2.podA, d2.podB);
    cleanup();
    const r2 = relay(true);
    const rg = await iperf(r2.podA, r2.podB);
    const s2 = r2.stop();
    cleanup();
    rows.push(['TCP 2 s, direct veth (iperf3)', `${dg.toFixed(2)} Gbit/s`, '']);
    rows.push(['TCP 2 s, relay with vnetHdr', `${rg.toFixed(2)} Gbit/s`, `${s2.superFrames} super-frames, relay drops ${s2.dropped}`]);
  }

  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), ['measure', 'result', 'notes'][i]!.length));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  console.log(line(['measure', 'result', 'notes']));
  console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

main().then(
  () => { cleanup(); process.exit(0); },
  (err) => { cleanup(); console.error(err); process.exit(1); },
);
