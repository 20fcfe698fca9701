// Proves each link of a running lab: the interface exists in both pods, is up and paired, and
// traffic crosses it: pings when the Topology gives addresses (ping(8) in the pod's netns, what a
// network engineer would trust), else Ethernet frames sent on one end and read on the other (KNE's
// links carry no addresses).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetNs, PacketSocket, Rtnl } from '../kernel';
import { LOCALHOST_PEER, type Link, type Topology } from '../topology';
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
  traffic?: { sent: number; received: number; rttMs?: number };
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

/**
 * Frames from `a`'s interface that arrive on `b`'s, for a link without addresses: `count` frames
 * with a random tag are sent from A; those read on B within `waitMs` are counted.
 */
export async function probeFrames(a: { netns: string; intf: string }, b: { netns: string; intf: string }, count = 3, waitMs = 1000): Promise<{ sent: number; received: number }> {
  const nsA = NetNs.open(netnsPath(a.netns));
  const nsB = NetNs.open(netnsPath(b.netns));
  let tx: PacketSocket | undefined;
  let rx: PacketSocket | undefined;
  try {
    rx = PacketSocket.open(b.intf, { ns: nsB });
    tx = PacketSocket.open(a.intf, { ns: nsA });
    const tag = randomBytes(8);
    // The sender's own MAC as source: a VXLAN drops frames from an invalid (all-zero) one.
    const rtA = Rtnl.open(nsA);
    const src = rtA.link(a.intf)?.mac;
    rtA.close();
    const frames = Array.from({ length: count }, (_, i) => {
      const f = Buffer.alloc(64);
      f.fill(0xff, 0, 6); // broadcast: whatever the far end's MAC
      if (src) Buffer.from(src.split(':').map((x) => parseInt(x, 16))).copy(f, 6);
      f.writeUInt16BE(PROBE_ETHERTYPE, 12);
      tag.copy(f, 14);
      f.writeUInt8(i, 22);
      return f;
    });
    const sent = tx.send(frames);
    const seen = new Set<number>();
    const end = Date.now() + waitMs;
    while (seen.size < sent && Date.now() < end) {
      for (const f of rx.recv()) {
        if (f.length >= 23 && f.readUInt16BE(12) === PROBE_ETHERTYPE && f.subarray(14, 22).equals(tag)) seen.add(f.readUInt8(22));
      }
      if (seen.size < sent) await sleep(5);
    }
    return { sent: count, received: seen.size };
  } finally {
    tx?.close();
    rx?.close();
    nsA.close();
    nsB.close();
  }
}

function linkState(pod: PodState, intf: string): 'up' | 'missing' | 'down' {
  const ns = NetNs.open(netnsPath(pod.netns));
  const rtnl = Rtnl.open(ns);
  try {
    const l = rtnl.link(intf);
    if (!l) return 'missing';
    return l.up && l.carrier ? 'up' : 'down';
  } finally {
    rtnl.close();
    ns.close();
  }
}

/** One row per link (each link is listed once, from the end whose pod sorts first). */
export async function checkLinks(state: LabState, topologies: Topology[], opts: { traffic?: boolean } = {}): Promise<LinkCheck[]> {
  const crossNode = state.interNodeLinkType ?? 'vxlan';
  const pods = new Map(state.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const seen = new Set<string>();
  const todo: [Topology, Link][] = [];
  for (const t of topologies) {
    const ns = t.metadata.namespace;
    for (const l of t.spec.links) {
      const key = `${ns}/${l.uid}`;
      if (seen.has(key)) continue;
      seen.add(key);
      todo.push([t, l]);
    }
  }
  // Links are independent: check several at once (pings wait on the wire, not on the CPU).
  const rows: LinkCheck[] = new Array(todo.length);
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const i = next++;
      rows[i] = await checkLink(pods, todo[i]![0], todo[i]![1], opts.traffic ?? true, crossNode);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CHECK_CONCURRENCY, todo.length) }, worker));
  return rows.sort((x, y) => x.uid - y.uid || x.namespace.localeCompare(y.namespace));
}

/** Links checked at the same time. */
const CHECK_CONCURRENCY = 16;

async function checkLink(pods: Map<string, PodState>, t: Topology, l: Link, traffic: boolean, crossNode: 'vxlan' | 'grpc'): Promise<LinkCheck> {
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
  if (a && b && a.node !== b.node) row.kind = crossNode;
  if (!a || (kind !== 'macvlan' && !b)) {
    row.detail = 'pod not running';
    return row;
  }
  const sa = linkState(a, l.local_intf);
  const sb = b ? linkState(b, l.peer_intf) : 'up';
  row.state = sa === 'up' && sb === 'up' ? 'up' : sa === 'missing' || sb === 'missing' ? 'missing' : 'down';
  if (row.state !== 'up') {
    row.detail = `${sa !== 'up' ? `${row.a} ${sa}` : `${row.b} ${sb}`}`;
    return row;
  }
  const target = addr(l.peer_ip);
  if (kind === 'macvlan' || !traffic) {
    row.pass = true;
    row.detail = 'link up';
    return row;
  }
  if (!target) {
    row.traffic = await probeFrames({ netns: a.netns, intf: l.local_intf }, { netns: b!.netns, intf: l.peer_intf });
    row.pass = row.traffic.received === row.traffic.sent;
    row.detail = `${row.traffic.received}/${row.traffic.sent} frames (no addresses: Ethernet frames across)`;
    return row;
  }
  row.traffic = await ping(a.netns, target);
  row.pass = row.traffic.received === row.traffic.sent;
  row.detail = `${row.traffic.received}/${row.traffic.sent} pings` +
    (row.traffic.rttMs !== undefined ? `, rtt ${row.traffic.rttMs.toFixed(3)} ms` : '');
  return row;
}

export function formatLinkTable(rows: LinkCheck[]): string {
  const header = ['LINK', 'ENDPOINT A', 'ENDPOINT B', 'KIND', 'ADDRESSES', 'STATE', 'RESULT'];
  const body = rows.map((r) => [
    String(r.uid), r.a, r.b, r.kind,
    r.aIp || r.bIp ? `${r.aIp ?? '-'} <-> ${r.bIp ?? '-'}` : '-',
    r.state,
    `${r.pass ? 'PASS' : 'FAIL'}  ${r.detail}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}
