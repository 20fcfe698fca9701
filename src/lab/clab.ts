// containerlab topology files (issue 18): `lab up topo.clab.yml` runs one unchanged where it can.
// Nodes of kind `linux` become container pods (image, cmd, entrypoint, binds, env, exec, cpu,
// memory), `topology.links` become the pods' Topology objects (both the `endpoints: ["r1:eth1",
// "r2:eth1"]` form and the newer `type: veth` one), and the management network is each pod's
// eth0 (the node's primary CNI, as on Kubernetes). Unlike containerlab, a node may run on any lab
// node (label `meshnet-lab/node`, or `--nodes N` to spread them): its links then become VXLAN or
// grpc-wire. Anything else (another kind, a field we lack, a link to the host) is refused naming
// the field and its line: never silently ignored.
import { LineCounter, isMap, isPair, isScalar, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { MeshnetError } from '../errors';
import { shellWords } from './shell-words';

/** The label that places a containerlab node on a lab node. */
export const PLACEMENT_LABEL = 'meshnet-lab/node';

const TOP_KEYS = ['name', 'prefix', 'mgmt', 'topology'];
const TOPOLOGY_KEYS = ['nodes', 'links', 'defaults', 'kinds'];
/** Node fields we carry out; `labels` and `group` are metadata; `network-mode: none` is what every pod is apart from eth0. */
const NODE_KEYS = ['kind', 'image', 'cmd', 'entrypoint', 'binds', 'env', 'exec', 'cpu', 'memory', 'labels', 'group', 'network-mode', 'startup-config'];
const MGMT_KEYS = ['network'];

type Raw = Record<string, unknown>;
const isRecord = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a parsed YAML document is a containerlab topology rather than a lab document or a manifest. */
export function isClabDocument(doc: unknown): boolean {
  return isRecord(doc) && isRecord(doc.topology) && doc.kind === undefined && doc.pods === undefined;
}

/** A containerlab file error: `field` is its path in the file (topology.nodes.r1.kind), with its line. */
export class ClabError extends MeshnetError {
  readonly code = 'InvalidLabFile';
  constructor(readonly field: string, readonly line: number | undefined, readonly reason: string) {
    super(`${field}${line ? ` (line ${line})` : ''}: ${reason}`);
  }
}

/** The lab document of a containerlab file, and where a lab-document field of its pods is in the file. */
export interface ClabLab {
  doc: Record<string, unknown>;
  /** `pods[i].binds[0]` → `topology.nodes.r1.binds.0 (line 14)`; other fields as they are. */
  fieldOf(labField: string): string;
}

/** A pod field of the lab document and the containerlab node field it came from. */
const FROM_CLAB: Record<string, string> = { command: 'entrypoint', args: 'cmd' };

/** Finds the line of a path in the document: a key's own line for a mapping entry. */
function locator(doc: Document, lc: LineCounter) {
  return (path: (string | number)[]): number | undefined => {
    const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
    const last = path[path.length - 1];
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === last);
      const at = (pair?.key as YamlNode | undefined)?.range?.[0];
      if (at !== undefined) return lc.linePos(at).line;
    }
    const node = doc.getIn(path, true) as YamlNode | undefined;
    return node?.range ? lc.linePos(node.range[0]).line : undefined;
  };
}

/** clab's memory (1Gb, 512Mb, 1GiB: docker's units) as the lab file writes it (Gi, Mi, Ki or bytes). */
function memory(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const m = /^(\d+)\s*([kmg])i?b?$/i.exec(v.trim());
  return m ? `${m[1]}${m[2]!.toUpperCase()}i` : v;
}

/**
 * The lab document a containerlab file describes (then parsed and checked as any lab file), or a
 * ClabError naming the field and its line. `nodes`: spread nodes without a placement label over
 * this many lab nodes (default 1).
 */
export function clabToLab(text: string, opts: { name?: string; nodes?: number } = {}): ClabLab {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const lineOf = locator(doc, lc);
  const fail = (path: (string | number)[], why: string): never => { throw new ClabError(path.join('.'), lineOf(path), why); };
  const top = doc.toJS() as Raw;
  const only = (o: Raw, keys: string[], at: (string | number)[], what: string, why = '') => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) fail([...at, k], `is not a ${what} field the lab supports${why} (supported: ${keys.join(', ')})`);
  };
  only(top, TOP_KEYS, [], 'top-level');
  if (typeof top.name !== 'string' && opts.name === undefined) fail(['name'], 'the lab needs a name');
  if (top.mgmt !== undefined) {
    if (!isRecord(top.mgmt)) fail(['mgmt'], 'must be a mapping');
    only(top.mgmt as Raw, MGMT_KEYS, ['mgmt'], 'mgmt', ': each pod\'s eth0 comes from its lab node\'s primary CNI, addressed from that node\'s pod subnet');
  }
  const topo = top.topology as Raw;
  only(topo, TOPOLOGY_KEYS, ['topology'], 'topology');
  // kinds.linux and defaults give fields every linux node inherits (a node's own win).
  const defaults = isRecord(topo.defaults) ? topo.defaults : {};
  const kinds = isRecord(topo.kinds) ? topo.kinds : {};
  for (const k of Object.keys(kinds)) if (k !== 'linux') fail(['topology', 'kinds', k], `kind "${k}" is not supported: the lab runs kind linux (a container with the image as it is)`);
  if (!isRecord(topo.nodes) || Object.keys(topo.nodes).length === 0) fail(['topology', 'nodes'], 'must be a mapping of at least one node');
  const nodes = topo.nodes as Raw;
  only(defaults, NODE_KEYS, ['topology', 'defaults'], 'node');
  only(isRecord(kinds.linux) ? kinds.linux : {}, NODE_KEYS, ['topology', 'kinds', 'linux'], 'node');
  const spread = opts.nodes ?? 1;
  const pods: Raw[] = [];
  const labNodes = new Set<string>();
  Object.entries(nodes).forEach(([name, raw], i) => {
    const at = ['topology', 'nodes', name];
    const own = raw === null ? {} : raw;
    if (!isRecord(own)) fail(at, 'must be a mapping of node fields');
    only(own as Raw, NODE_KEYS, at, 'node');
    const n: Raw = { ...defaults, ...(isRecord(kinds.linux) ? kinds.linux : {}), ...(own as Raw) };
    const kind = n.kind ?? 'linux';
    if (kind !== 'linux') fail([...at, 'kind'], `kind "${String(kind)}" is not supported: the lab runs kind linux (a container with the image as it is)`);
    if (n['network-mode'] !== undefined && n['network-mode'] !== 'none') fail([...at, 'network-mode'], `"${String(n['network-mode'])}" is not supported: a pod's only network besides its links is eth0`);
    if (n['startup-config'] !== undefined) fail([...at, 'startup-config'], 'a linux node has no startup configuration of its own: bind the file where the image reads it (binds: ["r1.conf:/etc/frr/frr.conf"])');
    if (typeof n.image !== 'string') fail([...at, 'image'], 'a linux node needs an image');
    const labels = isRecord(n.labels) ? n.labels : {};
    const placed = labels[PLACEMENT_LABEL];
    const node = typeof placed === 'string' ? placed : `n${(i % spread) + 1}`;
    labNodes.add(node);
    const words = (v: unknown, field: string): string[] | undefined => {
      if (v === undefined) return undefined;
      if (typeof v !== 'string') fail([...at, field], 'must be a string (a command line)');
      try {
        return shellWords(v as string);
      } catch (e) {
        return fail([...at, field], (e as Error).message);
      }
    };
    pods.push({
      name, node, image: n.image,
      ...(n.entrypoint !== undefined ? { command: words(n.entrypoint, 'entrypoint') } : {}),
      ...(n.cmd !== undefined ? { args: words(n.cmd, 'cmd') } : {}),
      ...(n.binds !== undefined ? { binds: n.binds } : {}),
      ...(n.env !== undefined ? { env: n.env } : {}),
      ...(n.exec !== undefined ? { exec: n.exec } : {}),
      ...(n.cpu !== undefined ? { cpu: n.cpu } : {}),
      ...(n.memory !== undefined ? { memory: memory(n.memory) } : {}),
    });
  });
  // Links: one uid each, in file order; each end's interface on its pod's Topology.
  const links: Array<{ uid: number; a: [string, string]; b: [string, string]; mtu?: unknown }> = [];
  const rawLinks = topo.links ?? [];
  if (!Array.isArray(rawLinks)) fail(['topology', 'links'], 'must be a list of links');
  (rawLinks as unknown[]).forEach((l, i) => {
    const at = ['topology', 'links', i];
    if (!isRecord(l)) fail(at, 'must be a mapping {endpoints: ["a:eth1", "b:eth1"]}');
    const link = l as Raw;
    for (const k of Object.keys(link)) if (!['endpoints', 'type', 'mtu'].includes(k)) fail([...at, k], 'is not a link field the lab supports (supported: endpoints, type: veth, mtu)');
    if (link.type !== undefined && link.type !== 'veth') fail([...at, 'type'], `"${String(link.type)}" is not supported: links between two nodes (veth) only; host, macvlan and mgmt-net links have no place in a lab`);
    if (!Array.isArray(link.endpoints) || link.endpoints.length !== 2) fail([...at, 'endpoints'], 'must be two endpoints');
    const ends = (link.endpoints as unknown[]).map((e, j): [string, string] => {
      const where = [...at, 'endpoints', j];
      let node: unknown, intf: unknown;
      if (typeof e === 'string') [node, intf] = e.includes(':') ? [e.slice(0, e.indexOf(':')), e.slice(e.indexOf(':') + 1)] : [e, undefined];
      else if (isRecord(e)) {
        for (const k of Object.keys(e)) if (k !== 'node' && k !== 'interface') fail([...where, k], 'is not an endpoint field the lab supports (node, interface)');
        [node, intf] = [e.node, e.interface];
      }
      if (typeof node !== 'string' || typeof intf !== 'string' || !intf) fail(where, `must be "NODE:INTERFACE" or {node, interface}, got ${JSON.stringify(e)}`);
      if (node === 'host' || node === 'macvlan' || node === 'mgmt-net' || node === 'bridge') fail(where, `a link to "${String(node)}" is not supported: links join two nodes of the topology`);
      if (!Object.hasOwn(nodes, node as string)) fail(where, `no node "${String(node)}" in topology.nodes`);
      return [node as string, intf as string];
    });
    links.push({ uid: i + 1, a: ends[0]!, b: ends[1]!, ...(link.mtu !== undefined ? { mtu: link.mtu } : {}) });
  });
  const topologies = Object.keys(nodes).map((name) => ({
    metadata: { name },
    spec: {
      links: links.flatMap((l) => [[l.a, l.b], [l.b, l.a]].filter(([me]) => me![0] === name).map(([me, peer]) => ({
        uid: l.uid, peer_pod: peer![0], local_intf: me![1], peer_intf: peer![1], ...(l.mtu !== undefined ? { mtu: l.mtu } : {}),
      }))),
    },
  }));
  const names = Object.keys(nodes);
  return {
    doc: { name: opts.name ?? top.name, nodes: [...labNodes].sort(), pods, topologies },
    fieldOf(labField) {
      const m = /^pods\[(\d+)\](?:\.([\w-]+)(?:\[(\d+)\])?)?(.*)$/.exec(labField);
      const node = m && names[Number(m[1])];
      if (!m || !node) return labField;
      const path: (string | number)[] = ['topology', 'nodes', node, ...(m[2] ? [FROM_CLAB[m[2]] ?? m[2]] : []), ...(m[3] !== undefined ? [Number(m[3])] : [])];
      const line = lineOf(path);
      return `${path.join('.')}${m[4] ?? ''}${line ? ` (line ${line})` : ''}`;
    },
  };
}

