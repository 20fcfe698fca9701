// The lab file: which nodes exist, which pods run where, and the pods' Topology objects exactly
// as KNE emits them. Parsed once into typed values; every error names the field.
import { parseAllDocuments } from 'yaml';
import { LOCALHOST_PEER, MAX_MTU, MIN_MTU, TopologyError, checkTopologySet, parseTopology, type Topology } from '../topology';
import { MeshnetError } from '../errors';
import { CONTAINER_KEYS, ContainerSpecError, parseContainer, type LabContainer } from './container-spec';
import { ClabError, clabToLab, isClabDocument, type ClabLab } from './clab';

export interface LabNode { name: string }
export interface LabPod {
  name: string;
  namespace: string;
  node: string;
  /** A pod that names an image runs it as a container through its node's containerd (container-spec.ts). */
  container?: LabContainer;
}
/** meshnet plugin settings a lab may choose (store and node_ip are the lab's own). */
export interface LabMeshnetOptions {
  disable_tx_offloads?: boolean;
}
export interface LabSpec {
  name: string;
  nodes: LabNode[];
  pods: LabPod[];
  topologies: Topology[];
  meshnet?: LabMeshnetOptions;
  /** How pods on different nodes are linked (each node's meshnetd --inter-node-link-type). */
  interNodeLinkType?: 'vxlan' | 'grpc';
  /** How VXLAN VNIs are numbered (each node's meshnetd --vni-scheme). */
  vniScheme?: 'kne' | 'upstream';
  /** mTLS between the node daemons (meshnetd --peer-tls); the lab makes a CA and a certificate per node. */
  peerTls?: 'permit' | 'require';
  /**
   * The original meshnet (issue 11): every node's CNI config is this one (meshnet as the master
   * plugin with its delegate), against an etcd the lab starts, holding the links in the original
   * layout (/<pod>/links).
   */
  originalMeshnet?: { config: Record<string, unknown> };
  /**
   * Who makes the pods: `netns` (default: each pod a bare network namespace, the CNI chain exec'd
   * by the lab) or `containerd` (one containerd per node; each pod a sandbox made through its
   * CRI, which runs the node's CNI chain as on a Kubernetes node, with meshnet chained by the
   * node's meshnetd as the DaemonSet chains it).
   */
  runtime?: 'netns' | 'containerd';
  /** The cniVersion of each node's primary CNI config (bridge + host-local); default 1.0.0. */
  cniVersion?: string;
}

export class LabFileError extends MeshnetError {
  readonly code = 'InvalidLabFile';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Lab and node names end up inside netns names and interface names; keep them short. */
const MAX_LAB_NAME = 24;
const MAX_NODE_NAME = 32;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function name(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || !NAME.test(v) || v.length > max) {
    throw new LabFileError(field, `must be a lower-case name of at most ${max} characters (a-z, 0-9, -), got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Reads a file named in a lab file, relative to the lab file. */
export type LabFileReader = (path: string) => string;

/**
 * `original_meshnet: {config: FILE, links: DIR}`: the node CNI config as the original meshnet's
 * README wrote it, and the link lists its upload scripts put in etcd, DIR/<pod>.json each. The
 * lists become the pods' Topologies (the same keys), so they are checked like any lab's.
 */
function originalMeshnet(doc: Record<string, unknown>, read: LabFileReader | undefined): { config: Record<string, unknown>; topologies: unknown[] } {
  const om = doc.original_meshnet;
  if (!isRecord(om) || typeof om.config !== 'string' || typeof om.links !== 'string') {
    throw new LabFileError('original_meshnet', 'must be a mapping {config: CONFIG.json, links: DIR} (paths relative to the lab file)');
  }
  if (!read) throw new LabFileError('original_meshnet', 'needs the lab file read from disk (its paths are relative to it)');
  if (doc.topologies !== undefined) throw new LabFileError('original_meshnet.links', 'and topologies both give the links: keep one');
  const load = (field: string, path: string): unknown => {
    let text: string;
    try {
      text = read(path);
    } catch (e) {
      throw new LabFileError(field, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new LabFileError(field, `${path} is not JSON: ${(e as Error).message}`);
    }
  };
  const config = load('original_meshnet.config', om.config);
  if (!isRecord(config) || config.type !== 'meshnet' || typeof config.cniVersion !== 'string' || typeof config.name !== 'string') {
    throw new LabFileError('original_meshnet.config', `${om.config} must be a meshnet CNI config {cniVersion, name, type: meshnet, ...}`);
  }
  if (!isRecord(config.delegate)) throw new LabFileError('original_meshnet.config', `${om.config} has no delegate: the original meshnet is the master plugin (its delegate gives eth0)`);
  const pods = Array.isArray(doc.pods) ? doc.pods : [];
  const topologies = pods.filter(isRecord).map((p) => ({
    apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: p.name, namespace: 'default' },
    spec: { links: load(`original_meshnet.links`, `${om.links}/${String(p.name)}.json`) },
  }));
  return { config, topologies };
}

/** The keys a lab document may have: anything else is a typo that would silently do nothing. */
const LAB_KEYS = ['name', 'nodes', 'pods', 'topologies', 'meshnet', 'inter_node_link_type', 'vni_scheme', 'mtu', 'peer_tls', 'original_meshnet', 'runtime', 'cni_version'];
/** Primary config versions a node may have (the bridge and host-local plugins take all of them). */
const CNI_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** The keys a pod of a lab document may have. */
const POD_KEYS = ['name', 'namespace', 'node', ...CONTAINER_KEYS];

/** `baseDir`: the lab file's directory, which relative paths (binds) are resolved against. */
export function parseLabSpec(doc: unknown, read?: LabFileReader, baseDir = process.cwd()): LabSpec {
  if (!isRecord(doc)) throw new LabFileError('(top level)', 'must be a mapping with name, nodes, pods and topologies');
  for (const k of Object.keys(doc)) {
    if (!LAB_KEYS.includes(k)) throw new LabFileError(k || '(an empty key)', `is not a lab file key (known: ${LAB_KEYS.join(', ')})`);
  }
  let original: Record<string, unknown> | undefined;
  if (doc.original_meshnet !== undefined) {
    const om = originalMeshnet(doc, read);
    original = om.config;
    doc = { ...doc, topologies: om.topologies };
    if (!isRecord(doc)) throw new Error('unreachable');
  }
  const lab = name(doc.name, 'name', MAX_LAB_NAME);

  if (!Array.isArray(doc.nodes) || doc.nodes.length === 0) throw new LabFileError('nodes', 'must be a non-empty list');
  const nodes = doc.nodes.map((n, i): LabNode => ({
    name: name(isRecord(n) ? n.name : n, `nodes[${i}]${isRecord(n) ? '.name' : ''}`, MAX_NODE_NAME),
  }));
  const nodeNames = new Set<string>();
  nodes.forEach((n, i) => {
    if (nodeNames.has(n.name)) throw new LabFileError(`nodes[${i}]`, `node "${n.name}" is listed twice`);
    nodeNames.add(n.name);
  });

  if (!Array.isArray(doc.pods)) throw new LabFileError('pods', 'must be a list of {name, node, namespace?}');
  const pods = doc.pods.map((p, i): LabPod => {
    const f = `pods[${i}]`;
    if (!isRecord(p)) throw new LabFileError(f, 'must be a mapping {name, node, namespace?}');
    for (const k of Object.keys(p)) {
      if (!POD_KEYS.includes(k)) throw new LabFileError(`${f}.${k}`, `is not a pod key (known: ${POD_KEYS.join(', ')})`);
    }
    const pod: LabPod = {
      name: name(p.name, `${f}.name`, 63),
      namespace: p.namespace === undefined ? 'default' : name(p.namespace, `${f}.namespace`, 63),
      node: name(p.node ?? nodes[0]!.name, `${f}.node`, MAX_NODE_NAME),
    };
    if (!nodeNames.has(pod.node)) throw new LabFileError(`${f}.node`, `no node named "${pod.node}" in nodes`);
    try {
      const container = parseContainer(p, f, baseDir);
      if (container) pod.container = container;
    } catch (e) {
      if (e instanceof ContainerSpecError) throw new LabFileError(e.field, e.message.slice(e.field.length + 2));
      throw e;
    }
    return pod;
  });
  const podKeys = new Map<string, number>();
  pods.forEach((p, i) => {
    const k = `${p.namespace}/${p.name}`;
    if (podKeys.has(k)) throw new LabFileError(`pods[${i}]`, `pod ${k} is listed twice`);
    podKeys.set(k, i);
  });

  const rawTopos = doc.topologies ?? [];
  if (!Array.isArray(rawTopos)) throw new LabFileError('topologies', 'must be a list of Topology objects');
  const topologies = rawTopos.map((t, i) => {
    try {
      return parseTopology(t, 'default', `topologies[${i}]`);
    } catch (e) {
      if (e instanceof TopologyError) throw new LabFileError(e.field, e.message.slice(e.field.length + 2));
      throw e;
    }
  });
  const seen = new Set<string>();
  topologies.forEach((t, i) => {
    const k = `${t.metadata.namespace}/${t.metadata.name}`;
    if (!podKeys.has(k)) throw new LabFileError(`topologies[${i}].metadata.name`, `Topology for ${k}, but no such pod in pods`);
    if (seen.has(k)) throw new LabFileError(`topologies[${i}].metadata.name`, `a second Topology for pod ${k}`);
    seen.add(k);
    t.spec.links.forEach((l, j) => {
      if (l.peer_pod !== LOCALHOST_PEER && !podKeys.has(`${t.metadata.namespace}/${l.peer_pod}`)) {
        throw new LabFileError(`topologies[${i}].spec.links[${j}].peer_pod`, `no pod "${l.peer_pod}" in namespace ${t.metadata.namespace}`);
      }
    });
  });
  try {
    checkTopologySet(topologies);
  } catch (e) {
    if (e instanceof TopologyError) throw new LabFileError('topologies', e.message);
    throw e;
  }
  const spec: LabSpec = { name: lab, nodes, pods, topologies };
  if (doc.meshnet !== undefined) spec.meshnet = parseMeshnetOptions(doc.meshnet);
  if (doc.inter_node_link_type !== undefined) {
    const t = doc.inter_node_link_type;
    if (t !== 'vxlan' && t !== 'grpc') throw new LabFileError('inter_node_link_type', `must be vxlan or grpc, got ${JSON.stringify(t)}`);
    spec.interNodeLinkType = t;
  }
  if (doc.vni_scheme !== undefined) {
    const v = doc.vni_scheme;
    if (v !== 'kne' && v !== 'upstream') throw new LabFileError('vni_scheme', `must be kne or upstream, got ${JSON.stringify(v)}`);
    spec.vniScheme = v;
  }
  if (doc.mtu !== undefined) {
    const mtu = doc.mtu;
    if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
      throw new LabFileError('mtu', `must be an integer from ${MIN_MTU} to ${MAX_MTU}, got ${JSON.stringify(mtu)}`);
    }
    // The lab's default for every link that does not set its own (veth and grpc-wire links).
    for (const t of spec.topologies) for (const l of t.spec.links) l.mtu ??= mtu;
  }
  if (doc.peer_tls !== undefined) {
    const v = doc.peer_tls;
    if (v !== 'off' && v !== 'permit' && v !== 'require') throw new LabFileError('peer_tls', `must be off, permit or require, got ${JSON.stringify(v)}`);
    if (v !== 'off') spec.peerTls = v;
  }
  if (doc.runtime !== undefined) {
    const v = doc.runtime;
    if (v !== 'netns' && v !== 'containerd') throw new LabFileError('runtime', `must be netns or containerd, got ${JSON.stringify(v)}`);
    spec.runtime = v;
  }
  // A pod that runs an image needs a container runtime on its node: the lab's runtime is then
  // containerd (its pods without an image get a sandbox alone), unless the file says otherwise.
  const imaged = pods.findIndex((p) => p.container);
  if (imaged >= 0) {
    if (spec.runtime === 'netns') throw new LabFileError(`pods[${imaged}].image`, 'needs runtime: containerd (runtime: netns makes bare namespaces, which run no image)');
    spec.runtime = 'containerd';
  }
  if (doc.cni_version !== undefined) {
    const v = doc.cni_version;
    if (typeof v !== 'string' || !CNI_VERSIONS.includes(v)) throw new LabFileError('cni_version', `must be one of ${CNI_VERSIONS.join(', ')} (a string), got ${JSON.stringify(v)}`);
    spec.cniVersion = v;
  }
  if (original) {
    if (imaged >= 0) throw new LabFileError(`pods[${imaged}].image`, 'the original meshnet runs bare pods: its CNI config is exec\'d by the lab, not by a container runtime');
    if (doc.meshnet !== undefined || doc.inter_node_link_type !== undefined || doc.peer_tls !== undefined || doc.runtime !== undefined || doc.cni_version !== undefined) {
      throw new LabFileError('original_meshnet', 'brings its own CNI config: meshnet, inter_node_link_type, peer_tls, runtime and cni_version do not apply');
    }
    spec.originalMeshnet = { config: original };
  }
  return spec;
}

function parseMeshnetOptions(v: unknown): LabMeshnetOptions {
  if (!isRecord(v)) throw new LabFileError('meshnet', 'must be a mapping of meshnet plugin settings');
  const out: LabMeshnetOptions = {};
  for (const [k, x] of Object.entries(v)) {
    if (k !== 'disable_tx_offloads') throw new LabFileError(`meshnet.${k}`, 'is not a setting a lab can choose (known: disable_tx_offloads)');
    if (typeof x !== 'boolean') throw new LabFileError(`meshnet.${k}`, `must be true or false, got ${JSON.stringify(x)}`);
    out.disable_tx_offloads = x;
  }
  return out;
}

export interface LabFileOptions {
  /** Reads files the lab file names (original_meshnet), relative to it; readLabFile sets it. */
  read?: LabFileReader;
  /** The lab file's directory: pods' binds are relative to it (default: the working directory). */
  baseDir?: string;
  /** Lab name: overrides a lab document's `name`; for a plain manifest the default is the file's name. */
  name?: string;
  /** Nodes to spread pods over when the manifest does not place them (default 1). */
  nodes?: number;
}

/**
 * A lab file is either a lab document (name, nodes, pods, topologies) or a plain Kubernetes
 * manifest as meshnet and KNE users already have: multi-document YAML of Topology objects and,
 * optionally, Pod objects (spec.nodeName places them), `kind: List` included; other kinds are
 * skipped. Both may be mixed: a lab document plus Topology/Pod documents. A manifest without a
 * lab document gets its name from the file (or `opts.name`), one pod per Topology unless Pods are
 * given, and pods spread round-robin over `opts.nodes` nodes unless placed.
 */
export function parseLabFile(text: string, path = 'lab file', opts: LabFileOptions = {}): LabSpec {
  let docs: unknown[];
  try {
    docs = parseAllDocuments(text).map((d, i) => {
      if (d.errors.length > 0) throw new Error(`document ${i + 1}: ${d.errors[0]!.message}`);
      return d.toJS() as unknown;
    }).filter((d) => d !== null && d !== undefined);
  } catch (e) {
    throw new LabFileError(path, `is not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (docs.length === 1 && isClabDocument(docs[0])) return parseClab(text, opts);
  const objects = docs.flatMap((d) => (isRecord(d) && d.kind === 'List' && Array.isArray(d.items) ? d.items as unknown[] : [d]));
  const headers = objects.filter((d) => isRecord(d) && d.kind === undefined);
  if (headers.length > 1) throw new LabFileError(path, 'has more than one lab document (a mapping with name, nodes, pods)');
  const topologies = objects.filter((d) => isRecord(d) && d.kind === 'Topology');
  const podObjects = objects.filter((d): d is Record<string, unknown> => isRecord(d) && d.kind === 'Pod');
  const header = headers[0] as Record<string, unknown> | undefined;
  if (opts.name !== undefined) name(opts.name, '--name', MAX_LAB_NAME);
  if (header) {
    // The lab document places its pods on its own nodes: a node count has nothing to spread.
    if (opts.nodes !== undefined) throw new LabFileError('--nodes', `applies to plain manifests; ${path} is a lab file that lists its nodes`);
    return parseLabSpec({
      ...header,
      // --name runs the same lab file under another name (two copies side by side).
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      pods: [...asList(header.pods), ...podObjects.map(podFromObject)],
      ...(header.topologies !== undefined || topologies.length ? { topologies: [...asList(header.topologies), ...topologies] } : {}),
    }, opts.read, opts.baseDir);
  }
  if (topologies.length === 0) throw new LabFileError(path, 'has neither a lab document nor any Topology object');
  type PodDoc = ReturnType<typeof podFromObject>;
  const pods: PodDoc[] = podObjects.length > 0
    ? podObjects.map(podFromObject)
    : topologies.map((t): PodDoc => {
      const meta = isRecord(t) && isRecord(t.metadata) ? t.metadata : {};
      return { name: meta.name, ...(meta.namespace !== undefined ? { namespace: meta.namespace } : {}) };
    });
  const placed = [...new Set(pods.map((p) => p.node).filter((n): n is string => typeof n === 'string'))];
  const count = opts.nodes ?? 1;
  if (!(Number.isInteger(count) && count >= 1 && count <= 240)) throw new LabFileError('--nodes', `must be 1 to 240, got ${count}`);
  const nodes = placed.length > 0 ? placed : Array.from({ length: count }, (_, i) => `node${i + 1}`);
  return parseLabSpec({
    name: opts.name ?? labNameFromPath(path),
    nodes,
    pods: pods.map((p, i) => ({ ...p, node: p.node ?? nodes[i % nodes.length] })),
    topologies,
  });
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v === undefined ? [] : [v];
}

/** A containerlab topology file (clab.ts), checked as any lab file, errors naming its own fields and lines. */
function parseClab(text: string, opts: LabFileOptions): LabSpec {
  let lab: ClabLab;
  if (opts.nodes !== undefined && !(Number.isInteger(opts.nodes) && opts.nodes >= 1 && opts.nodes <= 240)) throw new LabFileError('--nodes', `must be 1 to 240, got ${opts.nodes}`);
  try {
    lab = clabToLab(text, { ...(opts.name !== undefined ? { name: opts.name } : {}), ...(opts.nodes !== undefined ? { nodes: opts.nodes } : {}) });
  } catch (e) {
    if (e instanceof ClabError) throw new LabFileError(`${e.field}${e.line ? ` (line ${e.line})` : ''}`, e.reason);
    throw e;
  }
  try {
    return parseLabSpec(lab.doc, opts.read, opts.baseDir);
  } catch (e) {
    if (e instanceof LabFileError) throw new LabFileError(lab.fieldOf(e.field), e.message.slice(e.field.length + 2));
    throw e;
  }
}

function podFromObject(o: Record<string, unknown>): { name: unknown; namespace?: unknown; node?: string } {
  const meta = isRecord(o.metadata) ? o.metadata : {};
  const node = isRecord(o.spec) && typeof o.spec.nodeName === 'string' ? o.spec.nodeName : undefined;
  return { name: meta.name, ...(meta.namespace !== undefined ? { namespace: meta.namespace } : {}), ...(node ? { node } : {}) };
}

/** "tests/3node.yml" -> "3node": lower-case, [a-z0-9-], at most 24 characters. */
export function labNameFromPath(path: string): string {
  const base = path.split('/').pop()!.replace(/\.ya?ml$/, '');
  const name = base.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, MAX_LAB_NAME).replace(/-+$/, '');
  return name || 'lab';
}
