// VXLAN links between pods on different nodes, as meshnet makes them: each node creates its own
// end (UDP 4789, MTU = underlay MTU - 50) in the node's netns, so the UDP socket lives on the
// underlay, directly into the pod's netns under the pod's interface name. The VNI comes from the
// link's uid and, by default, its namespace (KNE's scheme), so topologies in different namespaces
// that reuse uids do not collide (upstream's 5000 + uid did: meshnet-cni #45).
import { isKernelError, type LinkInfo, type Rtnl } from '../kernel';
import { finishEnd, MESHNET_LINK_GROUP, type LinkEnd } from './links';

export const VXLAN_VNI_BASE = 5000;
export const VXLAN_PORT = 4789;
/** Outer Ethernet + IPv4 + UDP + VXLAN headers. */
export const VXLAN_OVERHEAD = 50;

/**
 * `kne`: uid + 10000 + (fnv32a(namespace) mod 1000) × 10000, as KNE's daemons compute it (its
 * wire-util.go), the default; `upstream`: 5000 + uid, for clusters that mix in upstream daemons.
 * Every daemon of a cluster must use the same scheme: the two ends of a link are made by two nodes.
 */
export type VniScheme = 'kne' | 'upstream';
export const VNI_SCHEMES: readonly VniScheme[] = ['kne', 'upstream'];

/** 32-bit FNV-1a, as Go's hash/fnv New32a. */
export function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The VNI of link `uid` of a topology in `namespace`; throws when it does not fit 24 bits. */
export function vniOf(uid: number, namespace: string, scheme: VniScheme = 'kne'): number {
  const vni = scheme === 'upstream' ? VXLAN_VNI_BASE + uid : uid + 10000 + (fnv32a(namespace || 'default') % 1000) * 10000;
  if (vni >= 1 << 24) throw new Error(`link uid ${uid}: VNI ${vni} (vni_scheme ${scheme}) does not fit VXLAN's 24 bits`);
  return vni;
}

export interface VxlanEndSpec {
  vni: number;
  /** The peer node's IP (its VTEP). */
  remote: string;
  /** This node's IP; the underlay interface is the one holding it (unless `dev` names it). */
  local: string;
  /** The underlay interface (upstream's HOST_INTF), when the node IP's interface is not the one. */
  dev?: string;
}

/**
 * Underlays found per rtnetlink handle: a handle lives for one piece of work (a CNI call, a sync),
 * which plumbs up to thousands of VXLAN ends over the same underlay; looking it up once per handle
 * saves an address dump per link.
 */
const underlays = new WeakMap<Rtnl, Map<string, LinkInfo>>();

/** The node's underlay interface: `dev` when given, else the one holding the node IP. */
export function underlayOf(node: Rtnl, nodeIp: string, dev?: string): LinkInfo {
  const key = `${nodeIp}|${dev ?? ''}`;
  let cache = underlays.get(node);
  const hit = cache?.get(key);
  if (hit) return hit;
  const found = findUnderlay(node, nodeIp, dev);
  if (!cache) underlays.set(node, (cache = new Map()));
  cache.set(key, found);
  return found;
}

function findUnderlay(node: Rtnl, nodeIp: string, dev?: string): LinkInfo {
  if (dev) {
    const l = node.link(dev);
    if (!l) throw new Error(`the node interface ${dev} (HOST_INTF) does not exist`);
    return l;
  }
  const addr = node.addrs().find((a) => a.cidr.split('/')[0] === nodeIp);
  const link = addr ? node.linkByIndex(addr.ifindex) : undefined;
  if (!link) throw new Error(`no interface on this node holds the node IP ${nodeIp} (the VXLAN underlay)`);
  return link;
}

/** Creates (or keeps, when it already matches) one VXLAN end in the pod; safe to repeat. */
export function plumbVxlanEnd(node: Rtnl, end: LinkEnd, spec: VxlanEndSpec): 'created' | 'existing' {
  const cur = end.rtnl.link(end.intf);
  const v = cur?.vxlan;
  if (cur?.kind === 'vxlan' && v?.vni === spec.vni && v.remote === spec.remote && v.local === spec.local) {
    finishEnd(end, { disableTxOffloads: false });
    return 'existing';
  }
  if (cur) end.rtnl.deleteLink(end.intf); // a stale end (the peer moved nodes) or someone else's link
  const uplink = underlayOf(node, spec.local, spec.dev);
  try {
    node.createVxlan({
      name: end.intf, vni: spec.vni, local: spec.local, remote: spec.remote, dev: uplink.name,
      dstPort: VXLAN_PORT, mtu: uplink.mtu - VXLAN_OVERHEAD, ns: end.ns, devGroup: MESHNET_LINK_GROUP,
    });
  } catch (e) {
    // The kernel allows one VXLAN per VNI and port on a node: say which VNI, not a bare EEXIST.
    if (isKernelError(e, 'EEXIST')) {
      throw new Error(`VXLAN ${end.intf}: VNI ${spec.vni} is already used by another VXLAN on this node (another link with the same VNI: see vni_scheme)`);
    }
    throw e;
  }
  finishEnd(end, { disableTxOffloads: false });
  return 'created';
}
