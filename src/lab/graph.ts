// `lab graph LAB`: a picture of a running lab. The data (graphData) is what `lab status` knows
// plus each end's kernel counters and impairments; it renders as one self-contained HTML file
// (inline SVG and CSS, no script, no fetches: it opens offline and in any browser), as Graphviz
// dot, or as Mermaid. Pods sit on a circle grouped by node; links are straight lines (a self link
// a loop, a macvlan a stub to its host interface), coloured by state.
import { existsSync } from 'node:fs';
import { NetNs, Rtnl, netnsPathExists, type LinkStats } from '../kernel';
import { openStore } from '../store';
import { TopologyClient, type ImpairmentKey, type Topology } from '../topology';
import { checkLinks, type LinkCheck } from './checks';
import { netnsPath } from './names';
import type { LabState, PodState } from './state';

export interface GraphEnd {
  /** POD (or `node` for a macvlan's host side). */
  pod: string;
  intf: string;
  ip?: string;
  /** Frames and bytes this end sent and received (the kernel's counters of the pod's interface). */
  counters?: { txPackets: number; rxPackets: number; txBytes: number; rxBytes: number };
  /** What frames leaving this end suffer (its half's `impairment`). */
  impairment?: Partial<Record<ImpairmentKey, string>>;
}

export interface GraphLink {
  uid: number;
  namespace: string;
  kind: LinkCheck['kind'];
  a: GraphEnd;
  b: GraphEnd;
  state: LinkCheck['state'];
  pulled: boolean;
  mtu?: string;
  detail: string;
}

export interface GraphData {
  lab: string;
  generatedAt: string;
  nodes: { name: string; underlayIp: string; meshnetd: 'running' | 'stopped' | 'none' }[];
  pods: { namespace: string; name: string; node: string; eth0: string[] }[];
  links: GraphLink[];
}

function statsOf(pod: PodState): Map<string, LinkStats> {
  if (!netnsPathExists(netnsPath(pod.netns))) return new Map();
  const ns = NetNs.open(pod.netns);
  const rt = Rtnl.open(ns);
  try {
    return rt.linkStats();
  } finally {
    rt.close();
    ns.close();
  }
}

export async function graphData(state: LabState): Promise<GraphData> {
  const topologies = await new TopologyClient(await openStore(state.store)).list();
  const rows = await checkLinks(state, topologies, { traffic: false });
  const byName = new Map<string, Topology>(topologies.map((t) => [`${t.metadata.namespace}/${t.metadata.name}`, t]));
  const stats = new Map<string, Map<string, LinkStats>>();
  const statsFor = (ns: string, name: string) => {
    const key = `${ns}/${name}`;
    if (!stats.has(key)) {
      const pod = state.pods.find((p) => p.namespace === ns && p.name === name);
      stats.set(key, pod ? statsOf(pod) : new Map());
    }
    return stats.get(key)!;
  };
  const end = (ns: string, podIntf: string, ip: string | undefined, node = false): GraphEnd => {
    const [pod, intf] = podIntf.split(':') as [string, string];
    const e: GraphEnd = { pod, intf, ...(ip ? { ip } : {}) };
    if (node) return e;
    const s = statsFor(ns, pod).get(intf);
    if (s) e.counters = { txPackets: s.txPackets, rxPackets: s.rxPackets, txBytes: s.txBytes, rxBytes: s.rxBytes };
    const half = byName.get(`${ns}/${pod}`)?.spec.links.find((l) => l.local_intf === intf || (l.peer_pod === pod && l.peer_intf === intf));
    if (half?.impairment && half.local_intf === intf) e.impairment = half.impairment;
    return e;
  };
  return {
    lab: state.name,
    generatedAt: new Date().toISOString(),
    nodes: state.nodes.map((n) => ({
      name: n.name, underlayIp: n.underlayIp,
      meshnetd: n.daemonPid === undefined ? 'none' : existsSync(`/proc/${n.daemonPid}`) ? 'running' : 'stopped',
    })),
    pods: state.pods.map((p) => ({ namespace: p.namespace, name: p.name, node: p.node, eth0: p.result?.ips.map((x) => x.address) ?? [] })),
    links: rows.map((r) => ({
      uid: r.uid, namespace: r.namespace, kind: r.kind, state: r.state, pulled: !!r.pulled, detail: r.detail,
      ...(r.mtu ? { mtu: r.mtu } : {}),
      a: end(r.namespace, r.a, r.aIp),
      b: end(r.namespace, r.b, r.bIp, r.kind === 'macvlan'),
    })),
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const NODE_COLOURS = ['#1565c0', '#6a1b9a', '#00838f', '#ef6c00', '#4e342e', '#ad1457', '#2e7d32', '#37474f'];
const STATE_COLOURS: Record<string, string> = { up: '#2e7d32', down: '#c62828', missing: '#ef6c00', pulled: '#9e9e9e' };

function linkState(l: GraphLink): string {
  return l.pulled ? 'pulled' : l.state;
}

function describeEnd(e: GraphEnd): string {
  const parts = [`${e.pod}:${e.intf}`];
  if (e.ip) parts.push(e.ip);
  if (e.counters) parts.push(`sent ${e.counters.txPackets} frames / ${e.counters.txBytes} B, received ${e.counters.rxPackets} / ${e.counters.rxBytes} B`);
  if (e.impairment) parts.push(`impaired: ${Object.entries(e.impairment).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return parts.join(', ');
}

function linkTitle(l: GraphLink): string {
  return [`link uid ${l.uid} (${l.kind}${l.mtu ? `, MTU ${l.mtu}` : ''}): ${linkState(l)}${l.detail ? ` (${l.detail})` : ''}`,
    describeEnd(l.a), describeEnd(l.b)].join('\n');
}

/** One HTML file: an SVG of the lab and a table of its links. `refreshS`: the page reloads itself. */
export function renderHtml(g: GraphData, refreshS?: number): string {
  // Pods on a circle, node by node: a pod's neighbours on the circle are on its node.
  const natural = (x: string, y: string) => x.localeCompare(y, 'en', { numeric: true });
  const pods = [...g.pods].sort((x, y) => natural(x.node, y.node) || natural(x.namespace, y.namespace) || natural(x.name, y.name));
  const n = Math.max(pods.length, 1);
  const radius = Math.max(170, (n * 22) / (2 * Math.PI));
  const margin = 150;
  const size = 2 * (radius + margin);
  const c = size / 2;
  const pos = new Map<string, { x: number; y: number; angle: number }>();
  pods.forEach((p, i) => {
    const angle = (2 * Math.PI * i) / n - Math.PI / 2;
    pos.set(`${p.namespace}/${p.name}`, { x: c + radius * Math.cos(angle), y: c + radius * Math.sin(angle), angle });
  });
  const nodeColour = new Map(g.nodes.map((node, i) => [node.name, NODE_COLOURS[i % NODE_COLOURS.length]!]));
  const svg: string[] = [];
  // Node arcs behind their pods, labelled at their middle.
  for (const node of g.nodes) {
    const idx = pods.map((p, i) => (p.node === node.name ? i : -1)).filter((i) => i >= 0);
    if (!idx.length) continue;
    const step = (2 * Math.PI) / n;
    const a0 = (2 * Math.PI * idx[0]!) / n - Math.PI / 2 - step / 2;
    const a1 = (2 * Math.PI * idx.at(-1)!) / n - Math.PI / 2 + step / 2;
    const r = radius + 34;
    const arc = idx.length === n
      ? `M ${c - r} ${c} a ${r} ${r} 0 1 0 ${2 * r} 0 a ${r} ${r} 0 1 0 ${-2 * r} 0`
      : `M ${c + r * Math.cos(a0)} ${c + r * Math.sin(a0)} A ${r} ${r} 0 ${a1 - a0 > Math.PI ? 1 : 0} 1 ${c + r * Math.cos(a1)} ${c + r * Math.sin(a1)}`;
    const mid = (a0 + a1) / 2;
    const colour = nodeColour.get(node.name)!;
    svg.push(`<g class="node" data-node="${esc(node.name)}"><title>${esc(`node ${node.name} (${node.underlayIp}), meshnetd ${node.meshnetd}`)}</title>` +
      `<path d="${arc}" fill="none" stroke="${colour}" stroke-width="10" stroke-opacity="0.35"/>` +
      `<text x="${(c + (r + 60) * Math.cos(mid)).toFixed(1)}" y="${(c + (r + 60) * Math.sin(mid)).toFixed(1)}" fill="${colour}" class="nodelabel">${esc(node.name)}${node.meshnetd === 'running' ? '' : ' (meshnetd ' + node.meshnetd + ')'}</text></g>`);
  }
  for (const l of g.links) {
    const a = pos.get(`${l.namespace}/${l.a.pod}`);
    const state = linkState(l);
    const colour = STATE_COLOURS[state] ?? '#000';
    const impaired = !!(l.a.impairment || l.b.impairment);
    const attrs = `class="link${impaired ? ' impaired' : ''}" data-uid="${l.uid}" data-state="${state}" stroke="${colour}"${state === 'pulled' || impaired ? ` stroke-dasharray="${impaired ? '7 3' : '2 4'}"` : ''}`;
    const title = `<title>${esc(linkTitle(l))}</title>`;
    if (!a) continue;
    const b = l.kind === 'macvlan' ? undefined : pos.get(`${l.namespace}/${l.b.pod}`);
    if (l.kind === 'self' || (b && b === a)) {
      const ox = Math.cos(a.angle) * 26;
      const oy = Math.sin(a.angle) * 26;
      svg.push(`<path ${attrs} fill="none" d="M ${a.x} ${a.y} c ${ox - oy} ${oy + ox} ${ox + oy} ${oy - ox} 0 0">${title}</path>`);
    } else if (!b) {
      // A macvlan (or a peer outside the lab): a stub outwards to a small host-interface box.
      const x = a.x + Math.cos(a.angle) * 60;
      const y = a.y + Math.sin(a.angle) * 60;
      svg.push(`<g><line ${attrs} x1="${a.x}" y1="${a.y}" x2="${x}" y2="${y}">${title}</line><rect x="${x - 5}" y="${y - 5}" width="10" height="10" fill="${colour}"><title>${esc(`${l.b.pod}:${l.b.intf}`)}</title></rect></g>`);
    } else {
      svg.push(`<line ${attrs} x1="${a.x.toFixed(1)}" y1="${a.y.toFixed(1)}" x2="${b.x.toFixed(1)}" y2="${b.y.toFixed(1)}">${title}</line>`);
      // Interface names at each end, while there is room for them.
      if (g.links.length <= 60) {
        for (const [from, to, intf] of [[a, b, l.a.intf], [b, a, l.b.intf]] as const) {
          const x = from.x + (to.x - from.x) * 0.16;
          const y = from.y + (to.y - from.y) * 0.16;
          svg.push(`<text class="intf" x="${x.toFixed(1)}" y="${y.toFixed(1)}">${esc(intf)}</text>`);
        }
      }
    }
  }
  for (const p of pods) {
    const { x, y, angle } = pos.get(`${p.namespace}/${p.name}`)!;
    const out = Math.cos(angle) >= 0;
    const lx = x + Math.cos(angle) * 12;
    const ly = y + Math.sin(angle) * 12;
    const deg = (angle * 180) / Math.PI + (out ? 0 : 180);
    const label = p.namespace === 'default' ? p.name : `${p.namespace}/${p.name}`;
    svg.push(`<g class="pod" data-pod="${esc(`${p.namespace}/${p.name}`)}"><title>${esc(`${p.namespace}/${p.name} on ${p.node}${p.eth0.length ? `, eth0 ${p.eth0.join(', ')}` : ''}`)}</title>` +
      `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="7" fill="${nodeColour.get(p.node) ?? '#555'}"/>` +
      `<text class="podlabel" transform="rotate(${deg.toFixed(1)} ${lx.toFixed(1)} ${ly.toFixed(1)})" x="${lx.toFixed(1)}" y="${ly.toFixed(1)}" text-anchor="${out ? 'start' : 'end'}">${esc(label)}</text></g>`);
  }
  const counters = (e: GraphEnd) => (e.counters ? `${e.counters.txPackets} / ${e.counters.rxPackets}` : '-');
  const impairment = (e: GraphEnd) => (e.impairment ? Object.entries(e.impairment).map(([k, v]) => `${k} ${v}`).join(', ') : '');
  const rows = g.links.map((l) => `<tr data-uid="${l.uid}" class="${linkState(l)}"><td>${l.uid}</td><td>${esc(`${l.a.pod}:${l.a.intf}`)}</td><td>${esc(`${l.b.pod}:${l.b.intf}`)}</td>` +
    `<td>${l.kind}</td><td>${l.mtu ?? '-'}</td><td>${esc([l.a.ip, l.b.ip].filter(Boolean).join(' - ') || '-')}</td><td class="state">${linkState(l)}</td>` +
    `<td>${counters(l.a)}</td><td>${counters(l.b)}</td><td>${esc([impairment(l.a) && `A→B ${impairment(l.a)}`, impairment(l.b) && `B→A ${impairment(l.b)}`].filter(Boolean).join('; '))}</td></tr>`);
  const up = g.links.filter((l) => linkState(l) === 'up').length;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">${refreshS ? `<meta http-equiv="refresh" content="${refreshS}">` : ''}
<title>lab ${esc(g.lab)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 4px}
.meta{color:#666;margin-bottom:8px}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:22px;height:0;border-top:3px solid;vertical-align:middle;margin-right:4px}
svg{display:block;max-width:100%;height:auto}
.link{stroke-width:2.5}
.link:hover{stroke-width:5}
.podlabel{font-size:11px;dominant-baseline:middle}
.intf{font-size:10px;fill:#555;text-anchor:middle;paint-order:stroke;stroke:#fff;stroke-width:3px}
.nodelabel{font-size:15px;font-weight:600;text-anchor:middle}
table{border-collapse:collapse;margin-top:12px}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;font-size:12px}
th{background:#f3f3f3}
tr.down .state,tr.missing .state{color:#c62828;font-weight:600}
tr.pulled .state{color:#757575}
</style></head><body>
<h1>lab ${esc(g.lab)}</h1>
<div class="meta">${g.nodes.length} node(s), ${g.pods.length} pods, ${g.links.length} links (${up} up); generated ${esc(g.generatedAt)}${refreshS ? `, reloads every ${refreshS} s` : ''}. Hover a link or pod for details.</div>
<div class="legend">${Object.entries(STATE_COLOURS).map(([s, col]) => `<span><i style="border-color:${col}"></i>${s === 'pulled' ? 'cable pulled' : s}</span>`).join('')}<span><i style="border-top-style:dashed"></i>impaired</span>${g.nodes.map((node) => `<span style="color:${nodeColour.get(node.name)}">● ${esc(node.name)}</span>`).join('')}</div>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size.toFixed(0)} ${size.toFixed(0)}" width="${size.toFixed(0)}" height="${size.toFixed(0)}">
${svg.join('\n')}
</svg>
<table><thead><tr><th>uid</th><th>end A</th><th>end B</th><th>kind</th><th>MTU</th><th>addresses</th><th>state</th><th>A frames sent / received</th><th>B frames sent / received</th><th>impairments</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>
</body></html>
`;
}

const dotId = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Graphviz: one cluster per node, one edge per link labelled with its interfaces. */
export function renderDot(g: GraphData): string {
  const lines = [`graph ${dotId(`lab ${g.lab}`)} {`, '  layout=neato; overlap=false; splines=true; node [shape=circle, fontsize=10];'];
  for (const node of g.nodes) {
    lines.push(`  subgraph ${dotId(`cluster_${node.name}`)} {`, `    label=${dotId(`${node.name} (${node.underlayIp})`)};`);
    for (const p of g.pods.filter((x) => x.node === node.name)) lines.push(`    ${dotId(`${p.namespace}/${p.name}`)} [label=${dotId(p.name)}];`);
    lines.push('  }');
  }
  for (const l of g.links) {
    const state = linkState(l);
    const a = dotId(`${l.namespace}/${l.a.pod}`);
    const b = l.kind === 'macvlan' ? dotId(`host:${l.b.intf}`) : dotId(`${l.namespace}/${l.b.pod}`);
    if (l.kind === 'macvlan') lines.push(`  ${b} [shape=box, label=${dotId(l.b.intf)}];`);
    const style = state === 'pulled' ? 'dotted' : l.a.impairment || l.b.impairment ? 'dashed' : 'solid';
    lines.push(`  ${a} -- ${b} [label=${dotId(`${l.kind} ${l.a.intf}-${l.b.intf}`)}, color=${dotId(STATE_COLOURS[state] ?? '#000000')}, style=${style}, tooltip=${dotId(linkTitle(l))}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

const mmId = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');

/** Mermaid flowchart: one subgraph per node, one edge per link. */
export function renderMermaid(g: GraphData): string {
  const lines = ['graph LR'];
  for (const node of g.nodes) {
    lines.push(`  subgraph ${mmId(`node_${node.name}`)}["${node.name} (${node.underlayIp})"]`);
    for (const p of g.pods.filter((x) => x.node === node.name)) lines.push(`    ${mmId(`${p.namespace}_${p.name}`)}(("${p.name}"))`);
    lines.push('  end');
  }
  const styles: string[] = [];
  g.links.forEach((l, i) => {
    const a = mmId(`${l.namespace}_${l.a.pod}`);
    const b = l.kind === 'macvlan' ? mmId(`host_${l.b.intf}`) : mmId(`${l.namespace}_${l.b.pod}`);
    if (l.kind === 'macvlan') lines.push(`  ${b}["${l.b.intf}"]`);
    const state = linkState(l);
    lines.push(`  ${a} ${state === 'pulled' ? '-.-' : '---'}|"${l.kind} ${l.a.intf}-${l.b.intf}"| ${b}`);
    styles.push(`  linkStyle ${i} stroke:${STATE_COLOURS[state] ?? '#000'},stroke-width:2px${l.a.impairment || l.b.impairment ? ',stroke-dasharray:6 3' : ''}`);
  });
  return `${[...lines, ...styles].join('\n')}\n`;
}
