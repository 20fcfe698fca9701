// The receiving side of Remote.Update: a peer node's daemon asks this node to create the far
// VXLAN end of a cross-node link inside one of this node's pods. Input comes from the network,
// so every field is checked (and named as on the wire) before anything is touched.
import { isIP, parseCidr } from '../cni';
import { NetNs, Rtnl, netnsPathExists } from '../kernel';
import { isValidIfName } from '../topology';
import { MESHNET_LINK_GROUP } from './links';
import type { RemoteEnd, RemoteEndRef } from './remote';
import { plumbVxlanEnd } from './vxlan';

export class RemoteEndError extends Error {
  constructor(readonly field: string, message: string) {
    super(`RemotePod.${field}: ${message}`);
    this.name = 'RemoteEndError';
  }
}

export function validateRemoteEnd(r: RemoteEnd): void {
  if (!r.netNs.startsWith('/')) throw new RemoteEndError('net_ns', `must be an absolute netns path, got ${JSON.stringify(r.netNs)}`);
  if (!isValidIfName(r.intfName)) throw new RemoteEndError('intf_name', `${JSON.stringify(r.intfName)} is not a valid interface name`);
  if (r.intfIp !== '') {
    try {
      parseCidr(r.intfIp);
    } catch (e) {
      throw new RemoteEndError('intf_ip', (e as Error).message);
    }
  }
  if (!isIP(r.peerVtep)) throw new RemoteEndError('peer_vtep', `${JSON.stringify(r.peerVtep)} is not an IP address`);
  if (!(Number.isInteger(r.vni) && r.vni > 0 && r.vni < 1 << 24)) throw new RemoteEndError('vni', `${r.vni} is not a VXLAN id (1 to 16777215)`);
  if (r.nodeIntf !== '' && !isValidIfName(r.nodeIntf)) throw new RemoteEndError('node_intf', `${JSON.stringify(r.nodeIntf)} is not a valid interface name`);
}

/**
 * Creates this node's end; `nodeIp` is this node's VTEP address, `hostIntf` its underlay
 * interface when configured (HOST_INTF). Idempotent.
 */
export function applyRemoteEnd(r: RemoteEnd, nodeIp: string, hostIntf?: string): 'created' | 'existing' {
  validateRemoteEnd(r);
  if (!netnsPathExists(r.netNs)) throw new RemoteEndError('net_ns', `${r.netNs} does not exist on this node (the pod is gone)`);
  const ns = NetNs.open(r.netNs);
  const node = Rtnl.open();
  try {
    const rtnl = Rtnl.open(ns);
    try {
      return plumbVxlanEnd(node, { ns, rtnl, intf: r.intfName, ip: r.intfIp || undefined }, { vni: r.vni, remote: r.peerVtep, local: nodeIp, ...(hostIntf ? { dev: hostIntf } : {}) });
    } finally {
      rtnl.close();
    }
  } finally {
    node.close();
    ns.close();
  }
}

/**
 * Removes this node's end of a cross-node link whose other pod went away. Only a meshnet VXLAN
 * with exactly this VNI towards `peerVtep` is touched: a request can never delete another link.
 * False when there is nothing matching (already gone, pod gone, re-plumbed elsewhere).
 */
export function removeRemoteEnd(r: RemoteEndRef): boolean {
  validateRemoteEnd({ ...r, intfIp: '', kubeNs: '', nodeIntf: '' });
  if (!netnsPathExists(r.netNs)) return false;
  const ns = NetNs.open(r.netNs);
  try {
    const rtnl = Rtnl.open(ns);
    try {
      const l = rtnl.link(r.intfName);
      if (l?.kind !== 'vxlan' || l.group !== MESHNET_LINK_GROUP || l.vxlan?.vni !== r.vni || l.vxlan.remote !== r.peerVtep) return false;
      return rtnl.deleteLink(r.intfName);
    } finally {
      rtnl.close();
    }
  } finally {
    ns.close();
  }
}
