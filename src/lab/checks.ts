// Proves each link of a running lab: the interface exists in both pods, is up and paired, and
// traffic crosses it: pings when the Topology gives addresses (ping(8) in the pod's netns, what a
// network engineer would trust), else Ethernet frames sent on one end and read on the other (KNE's
// links carry no addresses).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { EthertypeSocket, NetNs, Rtnl, type LinkInfo } from '../kernel';
import { LOCALHOST_PEER, cablePulled, wantsWire, type Link, type Topology } from '../topology';
import { netnsPath } from './names';
import type { LabState, PodState } from './state';

export interface LinkCheck {
  uid: number;
  namespace: string;
  a: string; // pod:intf
  b: string;
  kind: 'veth' | 'self' | 'macvlan' | 'vxlan' | 'grpc';
  aIp?: string;
  bIp?: string;
  state: 'up' | 'missing' | 'down';
  /** The MTU of end A's interface, and B's when it differs (`9000` or `1450/1500`). */
  mtu?: string;
  traffic?: { sent: number; received: number; rttMs?: number };
  /** The link's cable is pulled (Topology `state: down`): it passes when both ends are down. */
  pulled?: boolean;
  pass: boolean;
  detail: string;
}

function addr(cidr?: string): string | undefined {
  return cidr ? cidr.split('/')[0] : undefined;
}

export function ping(netns: string, target: string, count = 3): Promise<{ sent: number; received: number; rttMs?: number }> {
  return new Promise((resolvePing) => {
    const args = ['netns', 'exec', netns, 'ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '1', target];
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('close', () => {
      const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
      const rtt = /= [\d.]+\/([\d.]+)\//.exec(out);
      resolvePing({
        sent: m ? Number(m[1]) : count,
        received: m ? Number(m[2]) : 0,
        rttMs: rtt ? Number(rtt[1]) : undefined,
      });
    });
  });
}

/** IEEE 802 "local experimental" ethertype: nothing in a pod answers or forwards it. */
const PROBE_ETHERTYPE = 0x88b5;
/** Probe frame: dst(6) src(6) type(2) tag(8) link index(4) sequence(1), padded to Ethernet's minimum. */
const PROBE_LEN = 64;
/** Frames sent before the receivers are drained (their queues hold a burst this size easily). */
const SEND_CHUNK = 512;

export interface ProbeEnd {
  netns: string;
  intf: string;
}

/**
 * Proves address-less links by Ethernet frames: `count` frames tagged with the link's index are
 * sent from each A end and counted when read on that link's B end, on exactly that interface
 * (a frame arriving on another interface or in another pod proves nothing). All links at once:
 * one packet socket per pod netns (a socket's close costs an RCU grace period, see
 * kernel/ethertype-socket.ts), frames read until every one has arrived or `waitMs` has passed.
 * `stats.misdelivered` counts this probe's frames read anywhere else than their link's far end.
 */
export async function probeLinks(links: Array<{ a: ProbeEnd; b: ProbeEnd }>, count = 3, waitMs = 1000, stats?: { misdelivered: number }): Promise<Array<{ sent: number; received: number }>> {
  const results = links.map(() => ({ sent: 0, received: 0 }));
  if (links.length === 0) return results;
  const netnses = new Map<string, { ns: NetNs; sock: EthertypeSocket; links: Map<string, LinkInfo> }>();
  try {
    for (const l of links) {
      for (const end of [l.a, l.b]) {
        if (netnses.has(end.netns)) continue;
        const ns = NetNs.open(netnsPath(end.netns));
        let sock: EthertypeSocket | undefined;
        try {
          sock = EthertypeSocket.open(PROBE_ETHERTYPE, { ns, rcvbuf: 32 << 20 });
          const rtnl = Rtnl.open(ns);
          try {
            netnses.set(end.netns, { ns, sock, links: new Map(rtnl.links().map((x) => [x.name, x])) });
          } finally {
            rtnl.close();
          }
        } catch (e) {
          sock?.close();
          ns.close();
          throw e;
        }
      }
    }
    const tag = randomBytes(8);
    const seen = links.map(() => new Set<number>());
    const expect = links.map((l) => netnses.get(l.b.netns)!.links.get(l.b.intf)?.index);
    let pending = 0;
    const drain = () => {
      for (const [name, { sock }] of netnses) {
        for (const { ifindex, frame } of sock.recv()) {
          if (frame.length < 27 || frame.readUInt16BE(12) !== PROBE_ETHERTYPE || !frame.subarray(14, 22).equals(tag)) continue;
          const i = frame.readUInt32BE(22);
          if (i >= links.length) continue;
          if (links[i]!.b.netns !== name || expect[i] !== ifindex) {
            // One of this probe's frames on an interface that is not its link's far end: a
            // dataplane that delivered it to the wrong wire (frames broadcast by a bridge would
            // too, but meshnet's links are point to point).
            if (stats) stats.misdelivered++;
            continue;
          }
          const before = seen[i]!.size;
          seen[i]!.add(frame.readUInt8(26));
          if (seen[i]!.size > before) pending--;
        }
      }
    };
    let inChunk = 0;
    for (let i = 0; i < links.length; i++) {
      const { a } = links[i]!;
      const src = netnses.get(a.netns)!;
      const out = src.links.get(a.intf);
      if (!out || expect[i] === undefined) continue;
      for (let k = 0; k < count; k++) {
        const f = Buffer.alloc(PROBE_LEN);
        f.fill(0xff, 0, 6); // broadcast: whatever the far end's MAC
        // The sender's own MAC as source: a VXLAN drops frames from an invalid (all-zero) one.
        Buffer.from(out.mac.split(':').map((x) => parseInt(x, 16))).copy(f, 6);
        f.writeUInt16BE(PROBE_ETHERTYPE, 12);
        tag.copy(f, 14);
        f.writeUInt32BE(i, 22);
        f.writeUInt8(k, 26);
        if (!src.sock.send(out.index, f)) {
          drain();
          await sleep(1);
          if (!src.sock.send(out.index, f)) continue;
        }
        results[i]!.sent++;
        pending++;
        if (++inChunk >= SEND_CHUNK) {
          inChunk = 0;
          drain();
        }
      }
    }
    const end = Date.now() + waitMs;
    for (;;) {
      drain();
      if (pending <= 0 || Date.now() >= end) break;
      await sleep(5);
    }
    for (let i = 0; i < links.length; i++) results[i] = { sent: count, received: seen[i]!.size };
    return results;
  } finally {
    await Promise.all([...netnses.values()].map(async ({ ns, sock }) => {
      ns.close();
      await sock.closeAsync();
    }));
  }
}

/** Each pod's links, dumped once per check rather than asked for one at a time. */
class LinkTables {
  private readonly byNetns = new Map<string, Map<string, LinkInfo>>();

  state(pod: PodState, intf: string): 'up' | 'missing' | 'down' {
    const l = this.link(pod, intf);
    if (!l) return 'missing';
    return l.up && l.carrier ? 'up' : 'down';
  }

  mtu(pod: PodState, intf: string): number | undefined {
    return this.link(pod, intf)?.mtu;
  }

  private link(pod: PodState, intf: string): LinkInfo | undefined {
    let t = this.byNetns.get(pod.netns);
    if (!t) {
      const ns = NetNs.open(netnsPath(pod.netns));
      try {
        const rtnl = Rtnl.open(ns);
        try {
          t = new Map(rtnl.links().map((l) => [l.name, l]));
        } finally {
          rtnl.close();
        }
      } finally {
        ns.close();
      }
      this.byNetns.set(pod.netns, t);
    }
    return t.get(intf);
  }
}

/** One row per link (each link is listed once, from the end whose pod sorts first). */
export async function checkLinks(state: LabState, topologies: Topology[], opts: { traffic?: boolean } = {}): Promise<LinkCheck[]> {
  const crossNode = state.interNodeLinkType ?? 'vxlan';
  const pods = new Map(state.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const seen = new Set<string>();
  const tables = new LinkTables();
  const rows: LinkCheck[] = [];
  const pings: Array<{ row: LinkCheck; netns: string; target: string }> = [];
  const frames: Array<{ row: LinkCheck; a: ProbeEnd; b: ProbeEnd }> = [];
  const byName = new Map(topologies.map((t) => [`${t.metadata.namespace}/${t.metadata.name}`, t]));
  for (const t of topologies) {
    const ns = t.metadata.namespace;
    for (const l of t.spec.links) {
      const key = `${ns}/${l.uid}`;
      if (seen.has(key)) continue;
      seen.add(key);
      // A cable is pulled when either half of the link says so (lab link down writes both).
      const peer = byName.get(`${ns}/${l.peer_pod}`);
      const { row, traffic } = inspectLink(pods, t, l, wantsWire(l, peer) ? 'grpc' : crossNode, tables, cablePulled(l, peer), wantsWire(l, peer));
      rows.push(row);
      if (!traffic || !(opts.traffic ?? true)) continue;
      if (traffic.target) pings.push({ row, netns: traffic.a.netns, target: traffic.target });
      else frames.push({ row, a: traffic.a, b: traffic.b });
    }
  }
  // Pings wait on the wire, not on the CPU: several at once. Frames: all links in one probe.
  let next = 0;
  const worker = async () => {
    while (next < pings.length) {
      const { row, netns, target } = pings[next++]!;
      row.traffic = await ping(netns, target);
      row.pass = row.traffic.received === row.traffic.sent;
      row.detail = `${row.traffic.received}/${row.traffic.sent} pings` +
        (row.traffic.rttMs !== undefined ? `, rtt ${row.traffic.rttMs.toFixed(3)} ms` : '');
    }
  };
  const probed = probeLinks(frames.map(({ a, b }) => ({ a, b })));
  await Promise.all(Array.from({ length: Math.min(PING_CONCURRENCY, pings.length) }, worker));
  (await probed).forEach((traffic, i) => {
    const { row } = frames[i]!;
    row.traffic = traffic;
    row.pass = traffic.received === traffic.sent;
    row.detail = `${traffic.received}/${traffic.sent} frames (no addresses: Ethernet frames across)`;
  });
  return rows.sort((x, y) => x.uid - y.uid || x.namespace.localeCompare(y.namespace));
}

/** Links pinged at the same time. */
const PING_CONCURRENCY = 16;

/** The link's row with its state; `traffic` says how to prove it when it is up and has a far pod. */
function inspectLink(pods: Map<string, PodState>, t: Topology, l: Link, crossNode: 'vxlan' | 'grpc', tables: LinkTables, pulled: boolean, wire = false): { row: LinkCheck; traffic?: { a: ProbeEnd; b: ProbeEnd; target?: string } } {
  const ns = t.metadata.namespace;
  const kind = l.peer_pod === LOCALHOST_PEER ? 'macvlan' : l.peer_pod === t.metadata.name ? 'self' : 'veth';
  const row: LinkCheck = {
    uid: l.uid, namespace: ns, kind,
    a: `${t.metadata.name}:${l.local_intf}`,
    b: kind === 'macvlan' ? `node:${l.peer_intf}` : `${l.peer_pod}:${l.peer_intf}`,
    aIp: l.local_ip, bIp: l.peer_ip,
    state: 'missing', pass: false, detail: '',
  };
  const a = pods.get(`${ns}/${t.metadata.name}`);
  const b = kind === 'macvlan' ? undefined : pods.get(`${ns}/${l.peer_pod}`);
  // A link that asks to be a wire (link_type: grpc, or impaired) is one on one node too.
  if (a && b && (a.node !== b.node || (kind === 'veth' && wire))) row.kind = crossNode;
  if (!a || (kind !== 'macvlan' && !b)) {
    row.detail = 'pod not running';
    return { row };
  }
  const sa = tables.state(a, l.local_intf);
  const sb = b ? tables.state(b, l.peer_intf) : 'up';
  // What the pods see: a VXLAN's is its underlay's MTU minus 50, a veth's or wire's the link's.
  const [ma, mb] = [tables.mtu(a, l.local_intf), b ? tables.mtu(b, l.peer_intf) : undefined];
  if (ma !== undefined || mb !== undefined) row.mtu = ma === mb || mb === undefined ? String(ma) : `${ma ?? '-'}/${mb}`;
  row.state = sa === 'up' && sb === 'up' ? 'up' : sa === 'missing' || sb === 'missing' ? 'missing' : 'down';
  if (pulled) {
    // As set: a pulled cable passes when neither end is up (and both exist).
    row.pulled = true;
    row.pass = sa === 'down' && (kind === 'macvlan' || sb === 'down');
    row.detail = row.pass ? 'cable pulled (lab link up plugs it back)' : `cable pulled, but ${sa !== 'down' ? `${row.a} is ${sa}` : `${row.b} is ${sb}`}`;
    return { row };
  }
  if (row.state !== 'up') {
    row.detail = `${sa !== 'up' ? `${row.a} ${sa}` : `${row.b} ${sb}`}`;
    return { row };
  }
  // Without traffic (or for a macvlan, whose far side is the node's network) "up" is the verdict;
  // a traffic proof, when asked for, replaces it.
  row.pass = true;
  row.detail = 'link up';
  if (kind === 'macvlan' || !b) return { row };
  return { row, traffic: { a: { netns: a.netns, intf: l.local_intf }, b: { netns: b.netns, intf: l.peer_intf }, target: addr(l.peer_ip) } };
}

export function formatLinkTable(rows: LinkCheck[]): string {
  const header = ['LINK', 'ENDPOINT A', 'ENDPOINT B', 'KIND', 'MTU', 'ADDRESSES', 'STATE', 'RESULT'];
  const body = rows.map((r) => [
    String(r.uid), r.a, r.b, r.kind, r.mtu ?? '-',
    r.aIp || r.bIp ? `${r.aIp ?? '-'} <-> ${r.bIp ?? '-'}` : '-',
    r.state,
    `${r.pass ? 'PASS' : 'FAIL'}  ${r.detail}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}
