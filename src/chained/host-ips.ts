// The node's addresses as seen from a pod: what the pod must reach through its host link.
// As upstream: the source address the host uses towards each pod IP, plus the addresses of host
// interfaces except container/overlay plumbing (docker*, veth*, cni* ...), link-local and loopback.
import type { Rtnl } from '../kernel';
import { canonicalIp, contains, familyOf, isLinkLocalOrLoopback, type Family } from './cidr';
import { MAIN_TABLE } from './tables';

export const EXCLUDED_INTERFACES =
  /^(docker.*|cbr.*|dummy.*|virbr.*|lxcbr.*|veth.*|lo|cali.*|tunl.*|flannel.*|kube-ipvs.*|cni.*)$/;

export interface HostIps {
  /** Every host IP, canonical text, without duplicates; the per-family gateway first. */
  all: string[];
  /** Per family: the source address the host uses towards the pod; the pod's next hop for hijacked subnets. */
  gateway: Partial<Record<Family, string>>;
}

/** The host's source address towards `ip` from its main table (longest prefix wins), or undefined. */
export function sourceTowards(host: Rtnl, ip: string, skipDev?: string): string | undefined {
  const family = familyOf(ip);
  const candidates = host.routes({ family, table: MAIN_TABLE })
    .filter((r) => r.dev !== undefined && r.dev !== skipDev)
    .map((r) => ({ r, prefix: r.dst === 'default' || r.dst === '::/0' ? 0 : Number(r.dst.split('/')[1] ?? (family === 4 ? 32 : 128)) }))
    .filter(({ r, prefix }) => prefix === 0 || contains(r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`, ip))
    .sort((a, b) => b.prefix - a.prefix || (a.r.metric ?? 0) - (b.r.metric ?? 0));
  const best = candidates[0]?.r;
  if (!best) return undefined;
  if (best.src !== undefined) return canonicalIp(best.src);
  const addr = host.addrs(best.dev).find((a) => a.family === family && !isLinkLocalOrLoopback(a.cidr.split('/')[0] ?? ''));
  return addr ? canonicalIp(addr.cidr.split('/')[0] ?? '') : undefined;
}

/**
 * Host IPs for a pod with addresses `podIps`. `skipDev` is the pod's own host link (its /32
 * route must not be mistaken for the way to the pod).
 */
export function discoverHostIps(host: Rtnl, podIps: readonly string[], skipDev?: string): HostIps {
  const gateway: Partial<Record<Family, string>> = {};
  const all: string[] = [];
  const add = (ip: string): void => {
    if (!all.includes(ip)) all.push(ip);
  };
  for (const ip of podIps) {
    const family = familyOf(ip);
    const src = sourceTowards(host, ip, skipDev);
    if (src === undefined) continue;
    gateway[family] ??= src;
    add(src);
  }
  for (const a of host.addrs()) {
    if (EXCLUDED_INTERFACES.test(a.dev)) continue;
    const ip = canonicalIp(a.cidr.split('/')[0] ?? '');
    if (isLinkLocalOrLoopback(ip)) continue;
    gateway[a.family] ??= ip;
    add(ip);
  }
  return { all, gateway };
}

/** A host address inside `cidr`'s subnet (the node shares the subnet), or undefined. */
export function hostAddressIn(host: Rtnl, cidr: string): string | undefined {
  const a = host.addrs().find((x) => x.dev !== 'lo' && contains(cidr, x.cidr.split('/')[0] ?? ''));
  return a ? canonicalIp(a.cidr.split('/')[0] ?? '') : undefined;
}
