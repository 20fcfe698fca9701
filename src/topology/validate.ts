// Parses untrusted Topology objects (YAML/JSON from users, KNE, or the store) into typed values.
// Every error names the JSON path of the bad value; nothing downstream re-checks shapes.
import { parseCidr } from '../cni/ip';
import { TopologyError } from './errors';
import { parseImpairment, type Impairment, type ImpairmentKey } from './impairment';
import {
  LOCALHOST_PEER, TOPOLOGY_API_VERSION, TOPOLOGY_KIND,
  type Link, type Topology, type TopologyStatus,
} from './types';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function isValidIfName(name: string): boolean {
  return name.length > 0 && Buffer.byteLength(name) <= 15 && name !== '.' && name !== '..'
    && !/[\s/:]/.test(name);
}

export function isValidCidr(s: string): boolean {
  try {
    parseCidr(s);
    return true;
  } catch {
    return false;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string that must be there and not be empty. */
function requiredStr(obj: Record<string, unknown>, key: string, path: string): string {
  const v = obj[key];
  if (v === undefined || v === null) throw new TopologyError(`${path}.${key}`, 'is required');
  if (typeof v !== 'string') throw new TopologyError(`${path}.${key}`, `must be a string, got ${JSON.stringify(v)}`);
  if (v === '') throw new TopologyError(`${path}.${key}`, 'must not be empty');
  return v;
}

/** A string that may be absent; null and '' count as absent. */
function optionalStr(obj: Record<string, unknown>, key: string, path: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new TopologyError(`${path}.${key}`, `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function int(obj: Record<string, unknown>, key: string, path: string): number {
  const v = obj[key];
  // KNE and kubectl may hand us int64 values as numbers or numeric strings.
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new TopologyError(`${path}.${key}`, `must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** The MTUs a link may ask for: IPv6's minimum up to what veth and the wire's frame slots take. */
export const MIN_MTU = 1280;
export const MAX_MTU = 65_000;

/**
 * Whether a link's cable is pulled: either half says `state: down` (`meshnetctl lab link down`
 * writes both; a hand edit may set one). `peer` is the Topology of the link's peer pod, if any.
 */
export function cablePulled(link: Link, peer: { spec: { links: Link[] } } | undefined): boolean {
  return link.state === 'down' || peer?.spec.links.find((l) => l.uid === link.uid)?.state === 'down';
}

/** Whether a link is a grpc-wire by its own choice: `link_type: grpc` or an impairment on either half. */
export function wantsWire(link: Link, peer: { spec: { links: Link[] } } | undefined): boolean {
  const theirs = peer?.spec.links.find((l) => l.uid === link.uid);
  return [link, theirs].some((l) => l?.link_type === 'grpc' || !!l?.impairment);
}

/** A (validated) link's impairment, parsed; undefined when it has none. */
export function impairmentOf(link: Link): Impairment | undefined {
  return parseImpairment(link.impairment, 'impairment');
}

/**
 * `t` with `mtu` on every link that sets none (a node-wide or plugin default); `t` itself is not
 * changed (it may be an informer's cached object).
 */
export function withDefaultMtu<T extends { spec: { links: Link[] } }>(t: T, mtu: number | undefined): T {
  if (!mtu || t.spec.links.every((l) => l.mtu)) return t;
  return { ...t, spec: { ...t.spec, links: t.spec.links.map((l) => (l.mtu ? l : { ...l, mtu })) } };
}

export function parseLink(v: unknown, path: string): Link {
  if (!isRecord(v)) throw new TopologyError(path, 'must be an object');
  const link: Link = {
    uid: int(v, 'uid', path),
    peer_pod: requiredStr(v, 'peer_pod', path),
    local_intf: requiredStr(v, 'local_intf', path),
    peer_intf: requiredStr(v, 'peer_intf', path),
  };
  for (const k of ['local_intf', 'peer_intf'] as const) {
    if (!isValidIfName(link[k])) {
      throw new TopologyError(`${path}.${k}`, `"${link[k]}" is not a valid interface name (1-15 bytes, no '/', ':' or spaces)`);
    }
  }
  if (v.mtu !== undefined && v.mtu !== null) {
    const mtu = int(v, 'mtu', path);
    if (mtu < MIN_MTU || mtu > MAX_MTU) throw new TopologyError(`${path}.mtu`, `must be ${MIN_MTU} to ${MAX_MTU}, got ${mtu}`);
    link.mtu = mtu;
  }
  if (v.state !== undefined && v.state !== null) {
    if (v.state !== 'up' && v.state !== 'down') throw new TopologyError(`${path}.state`, `must be up or down, got ${JSON.stringify(v.state)}`);
    if (v.state === 'down') link.state = 'down';
  }
  if (v.link_type !== undefined && v.link_type !== null) {
    if (v.link_type !== 'grpc') throw new TopologyError(`${path}.link_type`, `must be grpc (a grpc-wire, on one node too), got ${JSON.stringify(v.link_type)}`);
    link.link_type = 'grpc';
  }
  // Checked here, kept as written (a Topology read and written back stays as its author wrote it).
  if (parseImpairment(v.impairment, `${path}.impairment`)) link.impairment = { ...(v.impairment as Record<ImpairmentKey, string>) };
  for (const k of ['local_ip', 'peer_ip'] as const) {
    const ip = optionalStr(v, k, path);
    if (ip === undefined) continue;
    if (!isValidCidr(ip)) throw new TopologyError(`${path}.${k}`, `"${ip}" is not a CIDR such as 12.12.12.1/24`);
    link[k] = ip;
  }
  return link;
}

function parseStatus(v: unknown, path: string): TopologyStatus | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw new TopologyError(path, 'must be an object');
  const s: TopologyStatus = {};
  for (const k of ['src_ip', 'net_ns', 'container_id', 'plumbing_error'] as const) {
    const x = optionalStr(v, k, path);
    if (x !== undefined) s[k] = x;
  }
  if (Array.isArray(v.skipped)) {
    s.skipped = v.skipped.map((item, i) => {
      const p = `${path}.skipped[${i}]`;
      if (!isRecord(item)) throw new TopologyError(p, 'must be an object');
      return { pod_name: requiredStr(item, 'pod_name', p), link_id: int(item, 'link_id', p) };
    });
  }
  return s;
}

/** A link left out of a leniently parsed Topology, with the reason naming its field. */
export interface BadLink {
  index: number;
  /** The link's uid when it had a usable one. */
  uid?: number;
  error: TopologyError;
}

/**
 * Parses one Topology object. `defaultNamespace` applies when metadata.namespace is absent
 * (kubectl's behaviour). Links are checked one by one and as a set: uids and local
 * interface names must be unique within the pod (a self link uses two local names).
 * With `badLinks` the parse is lenient about links: a bad link (and the later of two that
 * clash) is left out and reported there, so the pod's valid links can still be plumbed; the
 * object itself (metadata, spec) must still be well formed.
 */
export function parseTopology(v: unknown, defaultNamespace = 'default', where = 'Topology', badLinks?: BadLink[]): Topology {
  if (!isRecord(v)) throw new TopologyError(where, 'must be an object');
  if (v.apiVersion !== undefined && v.apiVersion !== TOPOLOGY_API_VERSION) {
    throw new TopologyError(`${where}.apiVersion`, `must be ${TOPOLOGY_API_VERSION}, got ${JSON.stringify(v.apiVersion)}`);
  }
  if (v.kind !== undefined && v.kind !== TOPOLOGY_KIND) {
    throw new TopologyError(`${where}.kind`, `must be ${TOPOLOGY_KIND}, got ${JSON.stringify(v.kind)}`);
  }
  if (!isRecord(v.metadata)) throw new TopologyError(`${where}.metadata`, 'is required');
  const name = requiredStr(v.metadata, 'name', `${where}.metadata`);
  if (!DNS_LABEL.test(name) || name.length > 253) {
    throw new TopologyError(`${where}.metadata.name`, `"${name}" is not a valid pod name (lower-case DNS name)`);
  }
  const namespace = optionalStr(v.metadata, 'namespace', `${where}.metadata`) ?? defaultNamespace;
  if (!DNS_LABEL.test(namespace)) throw new TopologyError(`${where}.metadata.namespace`, `"${namespace}" is not a valid namespace`);
  const spec = v.spec;
  if (!isRecord(spec)) throw new TopologyError(`${where}.spec`, 'is required');
  const rawLinks = spec.links ?? [];
  if (!Array.isArray(rawLinks)) throw new TopologyError(`${where}.spec.links`, 'must be a list');
  const uids = new Map<number, number>();
  const intfs = new Map<string, number>();
  const links: Link[] = [];
  rawLinks.forEach((raw, i) => {
    const p = `${where}.spec.links[${i}]`;
    try {
      const l = parseLink(raw, p);
      const prev = uids.get(l.uid);
      if (prev !== undefined) throw new TopologyError(`${p}.uid`, `uid ${l.uid} is already used by spec.links[${prev}]`);
      const names = l.peer_pod === name ? [l.local_intf, l.peer_intf] : [l.local_intf];
      if (l.peer_pod === name && l.local_intf === l.peer_intf) {
        throw new TopologyError(`${p}.peer_intf`, `a self link needs two different interfaces, both are "${l.local_intf}"`);
      }
      for (const n of names) {
        const used = intfs.get(n);
        if (used !== undefined) throw new TopologyError(`${p}.local_intf`, `interface "${n}" is already used by spec.links[${used}]`);
      }
      uids.set(l.uid, i);
      for (const n of names) intfs.set(n, i);
      links.push(l);
    } catch (e) {
      if (!badLinks || !(e instanceof TopologyError)) throw e;
      const uid = isRecord(raw) && Number.isSafeInteger(raw.uid) ? raw.uid as number : undefined;
      badLinks.push({ index: i, ...(uid !== undefined ? { uid } : {}), error: e });
    }
  });

  const meta = v.metadata;
  const t: Topology = {
    apiVersion: TOPOLOGY_API_VERSION,
    kind: TOPOLOGY_KIND,
    metadata: { name, namespace },
    spec: { links },
  };
  const rv = optionalStr(meta, 'resourceVersion', `${where}.metadata`);
  if (rv !== undefined) t.metadata.resourceVersion = rv;
  const status = parseStatus(v.status, `${where}.status`);
  if (status) t.status = status;
  return t;
}

/**
 * Checks that a set of Topology objects (one namespace) describes each link the same way from
 * both ends: pod A's link uid U to B (A:x – B:y) must appear in B as uid U to A (B:y – A:x).
 * KNE emits both halves; a mismatch would plumb an interface nobody expects.
 */
export function checkTopologySet(topos: Topology[]): void {
  const byName = new Map(topos.map((t) => [`${t.metadata.namespace}/${t.metadata.name}`, t]));
  for (const t of topos) {
    t.spec.links.forEach((l, i) => {
      const where = `Topology ${t.metadata.namespace}/${t.metadata.name} spec.links[${i}]`;
      if (l.peer_pod === LOCALHOST_PEER || l.peer_pod === t.metadata.name) return;
      const peer = byName.get(`${t.metadata.namespace}/${l.peer_pod}`);
      if (!peer) throw new TopologyError(`${where}.peer_pod`, `no Topology for pod "${l.peer_pod}" in namespace ${t.metadata.namespace}`);
      const back = peer.spec.links.find((pl) => pl.uid === l.uid);
      if (!back) throw new TopologyError(`${where}.uid`, `pod "${l.peer_pod}" has no link with uid ${l.uid}`);
      if (back.peer_pod !== t.metadata.name || back.local_intf !== l.peer_intf || back.peer_intf !== l.local_intf) {
        throw new TopologyError(`${where}`,
          `uid ${l.uid} is ${t.metadata.name}:${l.local_intf}–${l.peer_pod}:${l.peer_intf} here but ` +
          `${l.peer_pod}:${back.local_intf}–${back.peer_pod}:${back.peer_intf} in pod "${l.peer_pod}"`);
      }
    });
  }
}
