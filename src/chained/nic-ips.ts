// The addresses the main plugin gave CNI_IFNAME, read from prevResult.
import { CniError, type CniResult } from '../cni';
import type { Rtnl } from '../kernel';
import { canonicalIp, familyOf, networkOf, type Family } from './cidr';
import { MetaCode } from './codes';

export interface NicIp {
  family: Family;
  /** Canonical address text. */
  ip: string;
  /** The interface address as given, e.g. "10.1.0.10/24". */
  cidr: string;
  /** Its subnet, e.g. "10.1.0.0/24". */
  subnet: string;
  gateway?: string;
}

/**
 * IPs of `ifname` in the pod. An entry counts when its `interface` index names a container-side
 * interface called `ifname`; when no entry carries an index (older main plugins), all count.
 */
export function nicIps(prev: CniResult, ifname: string): NicIp[] {
  const indexes = new Set(prev.interfaces.flatMap((itf, i) => (itf.name === ifname && itf.sandbox ? [i] : [])));
  const anyIndexed = prev.ips.some((ip) => ip.interface !== undefined);
  return prev.ips
    .filter((ip) => !anyIndexed || (ip.interface !== undefined && indexes.has(ip.interface)))
    .map((ip) => {
      const address = ip.address.split('/')[0] ?? '';
      const n = networkOf(ip.address);
      const out: NicIp = { family: familyOf(address), ip: canonicalIp(address), cidr: ip.address, subnet: `${n.ip}/${n.prefix}` };
      if (ip.gateway !== undefined) out.gateway = canonicalIp(ip.gateway);
      return out;
    });
}

/**
 * The IPs a DEL must clean up after: prevResult's (0.4.0+), else what the NIC itself still has
 * (older runtimes send no prevResult). A NIC that is gone, also while it is read, has none.
 */
export function delNicIps(prev: CniResult | undefined, pod: Rtnl | undefined, ifname: string): string[] {
  if (prev) return nicIps(prev, ifname).map((x) => x.ip);
  return (pod?.linkAddrs(ifname)?.addrs ?? []).map((a) => a.cidr.split('/')[0] ?? '').filter((ip) => !ip.startsWith('fe80:'));
}

export function requireNicIps(prev: CniResult, ifname: string, plugin: string): NicIp[] {
  const ips = nicIps(prev, ifname);
  if (ips.length === 0) {
    throw new CniError(MetaCode.BadChain, `${plugin}: no IP address for ${ifname}`,
      `prevResult has no ips[] entry for the pod interface ${JSON.stringify(ifname)} (CNI_IFNAME); ${plugin} must follow a main plugin that assigns one`);
  }
  return ips;
}

export function families(ips: readonly NicIp[]): Family[] {
  return ([4, 6] as const).filter((f) => ips.some((i) => i.family === f));
}
