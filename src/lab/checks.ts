// Proves each link of a running lab: the interface exists in both pods, is up and paired, and,
// when the Topology gives addresses, pings cross it. Uses ping(8) in the pod's netns: the lab is
// a tool, not the plugin path, and ping is what a network engineer would trust.
import { spawn } from 'node:child_process';
import { NetNs, Rtnl } from '../kernel';
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
  if (!target || kind === 'macvlan' || !traffic) {
    row.pass = true;
    row.detail = !traffic ? 'link up' : 'link up (no addresses to ping)';
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
