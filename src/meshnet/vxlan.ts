// VXLAN links between pods on different nodes, as upstream meshnet makes them: each node creates
// its own end (VNI 5000 + uid, UDP 4789, MTU = underlay MTU - 50) in the node's netns, so the UDP
// socket lives on the underlay, directly into the pod's netns under the pod's interface name.
import type { LinkInfo, Rtnl } from '../kernel';
import { finishEnd, MESHNET_LINK_GROUP, type LinkEnd } from './links';

export const VXLAN_VNI_BASE = 5000;
export const VXLAN_PORT = 4789;
/** Outer Ethernet + IPv4 + UDP + VXLAN headers. */
export const VXLAN_OVERHEAD = 50;

/**
 * Upstream's VNI rule, kept so ends made by either implementation meet. VNIs of two topology
 * namespaces using the same uid collide on a node pair (upstream issue #45).
 */
export function vniOf(uid: number): number {
  const vni = VXLAN_VNI_BASE + uid;
  if (vni >= 1 << 24) throw new Error(`link uid ${uid}: VNI ${vni} does not fit VXLAN's 24 bits (uid must be below ${(1 << 24) - VXLAN_VNI_BASE})`);
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

/** The node's underlay interface: `dev` when given, else the one holding the node IP. */
export function underlayOf(node: Rtnl, nodeIp: string, dev?: string): LinkInfo {
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
    finishEnd(end, false);
    return 'existing';
  }
  if (cur) end.rtnl.deleteLink(end.intf); // a stale end (the peer moved nodes) or someone else's link
  const uplink = underlayOf(node, spec.local, spec.dev);
  node.createVxlan({
    name: end.intf, vni: spec.vni, local: spec.local, remote: spec.remote, dev: uplink.name,
    dstPort: VXLAN_PORT, mtu: uplink.mtu - VXLAN_OVERHEAD, ns: end.ns, devGroup: MESHNET_LINK_GROUP,
  });
  finishEnd(end, false);
  return 'created';
}
