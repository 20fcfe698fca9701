// Address helpers on top of the kernel layer's byte-level parsing: canonical text (so values we
// write compare equal to what the kernel reports back), network masking and containment.
import { formatIp, parseCidr as kParseCidr, parseIp } from '../kernel';

export type Family = 4 | 6;

export interface IpNet {
  family: Family;
  /** Canonical address text (RFC 5952 for IPv6). */
  ip: string;
  prefix: number;
}

/** Canonical text of an IP address ("fd00:0::5" → "fd00::5"). Throws on a non-address. */
export function canonicalIp(ip: string): string {
  return formatIp(parseIp(ip).addr);
}

/** "a.b.c.d/n" → its network with host bits cleared, canonical text. Throws on a non-CIDR. */
export function networkOf(cidr: string): IpNet {
  const c = kParseCidr(cidr);
  const addr = Buffer.from(c.addr);
  for (let bit = c.prefix; bit < addr.length * 8; bit++) {
    const i = bit >> 3;
    addr[i] = (addr[i] ?? 0) & ~(0x80 >> (bit & 7));
  }
  return { family: c.family, ip: formatIp(addr), prefix: c.prefix };
}

export function formatNet(n: IpNet): string {
  return `${n.ip}/${n.prefix}`;
}

/** The host route prefix of one address: "10.0.0.5/32", "fd00::5/128". */
export function hostCidr(ip: string): string {
  const { family, addr } = parseIp(ip);
  return `${formatIp(addr)}/${family === 4 ? 32 : 128}`;
}

export function familyOf(ip: string): Family {
  return parseIp(ip).family;
}

/** True when `ip` lies inside `cidr` (same family, first prefix bits equal). */
export function contains(cidr: string, ip: string): boolean {
  const c = kParseCidr(cidr);
  const a = parseIp(ip);
  if (a.family !== c.family) return false;
  for (let bit = 0; bit < c.prefix; bit++) {
    const m = 0x80 >> (bit & 7);
    if (((c.addr[bit >> 3] ?? 0) & m) !== ((a.addr[bit >> 3] ?? 0) & m)) return false;
  }
  return true;
}

/** Link-local and loopback addresses are never useful as a host IP seen from a pod. */
export function isLinkLocalOrLoopback(ip: string): boolean {
  return contains('169.254.0.0/16', ip) || contains('127.0.0.0/8', ip) || contains('fe80::/10', ip) || ip === '::1';
}

/** The destination text the kernel layer reports for a default route of each family. */
export function defaultDst(family: Family): string {
  return family === 4 ? 'default' : '::/0';
}

export function isDefaultDst(dst: string): boolean {
  return dst === 'default' || dst === 'default6' || dst === '0.0.0.0/0' || dst === '::/0';
}
