// The pod's overlay interface (eth0 from calico/flannel/bridge/ptp ...) and its host peer.
import { CniError } from '../../cni';
import type { LinkInfo, Rtnl } from '../../kernel';
import { canonicalIp, isLinkLocalOrLoopback, type Family } from '../../chained/cidr';
import { MetaCode } from '../../chained/codes';

export interface Overlay {
  name: string;
  link: LinkInfo;
  /** The host end of the overlay veth (in the current netns). */
  hostPeer: LinkInfo;
  ips: { family: Family; ip: string }[];
}

export function findOverlay(pod: Rtnl, host: Rtnl, name: string): Overlay {
  const link = pod.link(name);
  if (!link) {
    throw new CniError(MetaCode.BadChain, 'router: overlay interface missing',
      `overlay_interface ${JSON.stringify(name)} does not exist in the pod: the overlay CNI must run before router`);
  }
  const hostPeer = link.kind === 'veth' && link.peerIndex !== undefined ? host.linkByIndex(link.peerIndex) : undefined;
  if (!hostPeer || hostPeer.kind !== 'veth' || hostPeer.peerIndex !== link.index) {
    throw new CniError(MetaCode.BadChain, 'router: overlay interface is not a veth to this host',
      `overlay_interface ${JSON.stringify(name)} must be one end of a veth pair whose other end is in the host netns (kind ${link.kind ?? 'unknown'})`);
  }
  const ips = pod.addrs(name)
    .map((a) => ({ family: a.family, ip: canonicalIp(a.cidr.split('/')[0] ?? '') }))
    .filter((a) => !isLinkLocalOrLoopback(a.ip));
  if (ips.length === 0) {
    throw new CniError(MetaCode.BadChain, 'router: overlay interface has no address', `overlay_interface ${JSON.stringify(name)} has no IP address in the pod`);
  }
  return { name, link, hostPeer, ips };
}
