// Kernel plumbing of one meshnet link. Each function is idempotent: a repeated ADD, or two pods'
// ADDs racing for the same link, ends with exactly one correctly paired link.
import { KernelError, NetNs, Rtnl, withNetns, disableTxOffloads, type LinkInfo } from '../kernel';

/** MTU of same-node links, as upstream (the kernel's veth default). */
export const VETH_MTU = 1500;

/**
 * Device group of every interface meshnet makes (both veth ends, macvlans): "mn" in ASCII.
 * DEL removes a pod's links with one group delete, which the kernel unregisters as one batch;
 * one deleteLink per link costs a full RCU grace period each (~16 ms here).
 */
export const MESHNET_LINK_GROUP = 0x6d6e;

export interface LinkEnd {
  ns: NetNs;
  rtnl: Rtnl;
  intf: string;
  /** CIDR from the Topology, or undefined to leave the interface unaddressed (KNE's default). */
  ip?: string;
  /** The link's cable is pulled (Topology `state: down`): the end is left admin-down, not set up. */
  down?: boolean;
}

function paired(a: LinkInfo | undefined, b: LinkInfo | undefined, sameNs: boolean): boolean {
  if (!a || !b || a.kind !== 'veth' || b.kind !== 'veth') return false;
  // Within one netns the peer index is enough; across namespaces IFLA_LINK is the peer's
  // index in the other netns, so both directions must agree.
  return a.peerIndex === b.index && b.peerIndex === a.index && (sameNs || a.linkNetnsId !== undefined);
}

/**
 * Addresses, offloads and up state for one end; safe to repeat. Offloads are turned off on veth
 * ends only (when configured): a macvlan inherits its parent's and the kernel refuses to change
 * them (EOPNOTSUPP), and a VXLAN's frames are checksummed by the underlay path.
 */
export function finishEnd(end: LinkEnd, opts: { disableTxOffloads: boolean }): void {
  // NLM_F_REPLACE makes a repeated ADD a no-op without reading the addresses first.
  if (end.ip) end.rtnl.addAddr(end.intf, end.ip, { noDad: true, replace: true });
  // Upstream turns tx offloads off so frames leaving through a wire or VXLAN carry real checksums.
  if (opts.disableTxOffloads) withNetns(end.ns, () => disableTxOffloads(end.intf));
  if (end.down) end.rtnl.setDown(end.intf);
  else end.rtnl.setUp(end.intf);
}

/**
 * A veth pair between two pods (or two interfaces of one pod for a self link): a.intf in a.ns,
 * b.intf in b.ns, created in one netlink request so neither end ever exists alone.
 */
export function plumbVeth(a: LinkEnd, b: LinkEnd, opts: { disableTxOffloads: boolean; mtu?: number }): 'created' | 'existing' {
  const sameNs = a.ns.path === b.ns.path;
  let outcome: 'created' | 'existing' = 'existing';
  const mtu = opts.mtu ?? VETH_MTU;
  const [ia, ib] = [a.rtnl.link(a.intf), b.rtnl.link(b.intf)];
  if (paired(ia, ib, sameNs) && (ia!.mtu !== mtu || ib!.mtu !== mtu)) {
    // The Topology changed the link's MTU: set on both ends, the pair stays.
    a.rtnl.setMtu(a.intf, mtu);
    b.rtnl.setMtu(b.intf, mtu);
  }
  if (!paired(ia, ib, sameNs)) {
    // Something else holds a name (an earlier incarnation's leftover): replace it.
    for (const end of [a, b]) {
      const cur = end.rtnl.link(end.intf);
      if (cur) end.rtnl.deleteLink(end.intf);
    }
    try {
      a.rtnl.createVeth({ name: a.intf, peerName: b.intf, peerNs: sameNs ? undefined : b.ns, mtu, group: MESHNET_LINK_GROUP });
      outcome = 'created';
    } catch (e) {
      // The peer pod's ADD created it between our check and our create: fine if it is the pair.
      if (!(e instanceof KernelError && e.code === 'EEXIST' && paired(a.rtnl.link(a.intf), b.rtnl.link(b.intf), sameNs))) throw e;
    }
  }
  // Offloads are set once, when the pair is made; a pair found in place (a repeated ADD, a
  // reconciler pass) only gets its addresses and up state checked.
  finishEnd(a, { disableTxOffloads: opts.disableTxOffloads && outcome === 'created' });
  finishEnd(b, { disableTxOffloads: opts.disableTxOffloads && outcome === 'created' });
  return outcome;
}

/** A macvlan on the node's interface `parent` (peer_pod "localhost"), moved into the pod as a.intf. */
export function plumbMacvlan(node: Rtnl, parent: string, a: LinkEnd, uid: number): 'created' | 'existing' {
  const cur = a.rtnl.link(a.intf);
  if (cur?.kind === 'macvlan') {
    finishEnd(a, { disableTxOffloads: false });
    return 'existing';
  }
  if (cur) a.rtnl.deleteLink(a.intf);
  if (!node.link(parent)) {
    throw new Error(`link uid ${uid}: host interface "${parent}" (peer_intf) does not exist on this node`);
  }
  // Created under a temporary name: the pod's interface name may exist on the node.
  const tmp = `mv${uid.toString(36)}-${process.pid.toString(36)}`.slice(0, 15);
  node.createMacvlan({ name: tmp, parent, mode: 'bridge', group: MESHNET_LINK_GROUP });
  try {
    node.setNetns(tmp, a.ns, a.intf);
  } catch (e) {
    node.deleteLink(tmp);
    throw e;
  }
  finishEnd(a, { disableTxOffloads: false });
  return 'created';
}

export interface EndState {
  exists: boolean;
  kind?: string;
  up: boolean;
  hasIp: boolean;
}

/** An end's interface as one consistent read: one that vanishes while it is read is "gone" (exists: false). */
export function inspectEnd(end: LinkEnd): EndState {
  const r = end.rtnl.linkAddrs(end.intf);
  if (!r) return { exists: false, up: false, hasIp: false };
  return {
    exists: true,
    kind: r.link.kind,
    up: r.link.up,
    hasIp: !end.ip || r.addrs.some((x) => x.cidr === end.ip),
  };
}

export function isPaired(a: LinkEnd, b: LinkEnd): boolean {
  return paired(a.rtnl.link(a.intf), b.rtnl.link(b.intf), a.ns.path === b.ns.path);
}
