// The receiving side of Remote.Update: a peer node's daemon asks this node to create the far
// VXLAN end of a cross-node link inside one of this node's pods. Input comes from the network,
// so every field is checked (and named as on the wire) before anything is touched.
import { isIP, parseCidr } from '../cni';
import { NetNs, Rtnl, netnsPathExists } from '../kernel';
import { isValidIfName } from '../topology';
import { MESHNET_LINK_GROUP } from './links';
import type { RemoteEnd, RemoteEndRef } from './far-node';
import { plumbVxlanEnd } from './vxlan';
import { MeshnetError } from '../errors';

/**
 * The pod a peer asks about has no netns here any more (it was removed; its status may still say
 * alive until this node's meshnetd notices): an expected state, answered FAILED_PRECONDITION.
 */
export class PodGoneError extends MeshnetError {
  readonly code = 'PodGone';
  constructor(netns: string, pod?: string) {
    super(`${pod ? `pod ${pod}: ` : ''}its netns ${netns} does not exist on this node: the pod is gone (this node's meshnetd clears its status when it sees that)`);
  }
}

export class RemoteEndError extends MeshnetError {
  readonly code = 'InvalidArgument';
  /** `message`: the request message the field is in (RemotePod for Remote.Update, EndRef for RemoteExt.RemoveEnd). */
  constructor(readonly field: string, message: string, msgType = 'RemotePod') {
    super(`${msgType}.${field}: ${message}`);
  }
}

export function validateRemoteEnd(r: RemoteEnd, msgType = 'RemotePod'): void {
  const bad = (field: string, why: string) => new RemoteEndError(field, why, msgType);
  if (!r.netNs.startsWith('/')) throw bad('net_ns', `must be an absolute netns path, got ${JSON.stringify(r.netNs)}`);
  if (!isValidIfName(r.intfName)) throw bad('intf_name', `${JSON.stringify(r.intfName)} is not a valid interface name`);
  if (r.intfIp !== '') {
    try {
      parseCidr(r.intfIp);
    } catch (e) {
      throw bad('intf_ip', (e as Error).message);
    }
  }
  if (!isIP(r.peerVtep)) throw bad('peer_vtep', `${JSON.stringify(r.peerVtep)} is not an IP address`);
  if (!(Number.isInteger(r.vni) && r.vni > 0 && r.vni < 1 << 24)) throw bad('vni', `${r.vni} is not a VXLAN id (1 to 16777215)`);
  if (r.nodeIntf !== '' && !isValidIfName(r.nodeIntf)) throw bad('node_intf', `${JSON.stringify(r.nodeIntf)} is not a valid interface name`);
}

/**
 * Creates this node's end; `nodeIp` is this node's VTEP address, `hostIntf` its underlay
 * interface when configured (HOST_INTF). Idempotent.
 */
export function applyRemoteEnd(r: RemoteEnd, nodeIp: string, hostIntf?: string): 'created' | 'existing' {
  validateRemoteEnd(r);
  if (!netnsPathExists(r.netNs)) throw new PodGoneError(r.netNs);
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
 * Device group a far end moves to just before it is deleted with others of its pod (never a
 * group a link lives in: it exists for the span of one removeRemoteEnds call).
 */
const DOOMED_GROUP = MESHNET_LINK_GROUP + 1;

/**
 * Removes this node's ends of cross-node links whose other pods went away. Only a meshnet VXLAN
 * with exactly the VNI towards exactly the `peerVtep` of its request is touched: a request can
 * never delete another link. The ends found in one pod are deleted as one kernel batch (marked
 * with a transient device group, then one group delete): deleting 1,500 VXLANs one by one costs
 * an RCU grace period each (~19 ms here, 28 s in all), as a batch ~0.3 s. Per request: false when
 * nothing matched (already gone, pod gone, re-plumbed elsewhere). Every request is validated
 * before anything is touched.
 */
export function removeRemoteEnds(refs: RemoteEndRef[]): boolean[] {
  for (const r of refs) validateRemoteEnd({ ...r, intfIp: '', kubeNs: '', nodeIntf: '' });
  const out = refs.map(() => false);
  const byNetns = new Map<string, number[]>();
  refs.forEach((r, i) => byNetns.set(r.netNs, [...(byNetns.get(r.netNs) ?? []), i]));
  for (const [netNs, idx] of byNetns) {
    if (!netnsPathExists(netNs)) continue;
    const ns = NetNs.open(netNs);
    try {
      const rtnl = Rtnl.open(ns);
      try {
        const links = new Map(rtnl.links().map((l) => [l.name, l]));
        const marked: string[] = [];
        for (const i of idx) {
          const r = refs[i]!;
          const l = links.get(r.intfName);
          if (l?.kind !== 'vxlan' || l.group !== MESHNET_LINK_GROUP || l.vxlan?.vni !== r.vni || l.vxlan.remote !== r.peerVtep) continue;
          rtnl.setGroup(r.intfName, DOOMED_GROUP);
          marked.push(r.intfName);
          out[i] = true;
        }
        if (marked.length > 0) {
          try {
            rtnl.deleteGroup(DOOMED_GROUP);
          } catch {
            // One at a time then, so no end stays behind in the transient group.
            for (const name of marked) rtnl.deleteLink(name);
          }
        }
      } finally {
        rtnl.close();
      }
    } finally {
      ns.close();
    }
  }
  return out;
}
