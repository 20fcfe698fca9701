// `meshnetctl lab export NAME --format clab`: a running lab written back as a containerlab
// topology file (clab.ts reads it again): its container pods as linux nodes, placed on their lab
// nodes by label, and every link once. A pod without an image has no containerlab node to be.
import { stringify } from 'yaml';
import type { Topology } from '../topology';
import { LabError } from './errors';
import { PLACEMENT_LABEL } from './clab';
import type { LabState } from './state';

/** Quotes a word for a command line when it needs it (clab's cmd and entrypoint are command lines). */
const quote = (w: string) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

export function exportClab(state: LabState, topologies: Topology[]): string {
  const bare = state.pods.filter((p) => !p.container).map((p) => `${p.namespace}/${p.name}`);
  if (bare.length) throw new LabError(`lab "${state.name}" has pods that run no image (${bare.join(', ')}): containerlab nodes are containers`);
  const namespaces = new Set(state.pods.map((p) => p.namespace));
  if (namespaces.size > 1) throw new LabError(`lab "${state.name}" has pods in several namespaces (${[...namespaces].join(', ')}): containerlab node names are one flat set`);
  const nodes: Record<string, Record<string, unknown>> = {};
  for (const p of state.pods) {
    const c = p.container!;
    nodes[p.name] = {
      kind: 'linux', image: c.image,
      ...(c.command ? { entrypoint: c.command.map(quote).join(' ') } : {}),
      ...(c.args ? { cmd: c.args.map(quote).join(' ') } : {}),
      ...(c.env ? { env: c.env } : {}),
      ...(c.binds ? { binds: c.binds.map((b) => `${b.host}:${b.container}${b.readOnly ? ':ro' : ''}`) } : {}),
      ...(c.exec ? { exec: c.exec } : {}),
      ...(c.cpu ? { cpu: c.cpu } : {}),
      ...(c.memory ? { memory: `${Math.ceil(c.memory / 1024 ** 2)}Mi` } : {}),
      labels: { [PLACEMENT_LABEL]: p.node },
    };
  }
  const seen = new Set<number>();
  const links: Array<Record<string, unknown>> = [];
  for (const t of topologies) {
    for (const l of t.spec.links) {
      if (seen.has(l.uid)) continue;
      seen.add(l.uid);
      links.push({ endpoints: [`${t.metadata.name}:${l.local_intf}`, `${l.peer_pod}:${l.peer_intf}`], ...(l.mtu ? { mtu: l.mtu } : {}) });
    }
  }
  return `# containerlab topology of lab "${state.name}" (meshnetctl lab export); ${PLACEMENT_LABEL} places a node on a lab node\n${stringify({ name: state.name, topology: { nodes, links } })}`;
}
