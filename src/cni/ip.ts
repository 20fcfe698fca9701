import { isIP as netIsIP } from 'node:net';

export type IPFamily = 4 | 6;

export interface Cidr {
  family: IPFamily;
  /** The address part exactly as written (host bits are kept: CNI uses CIDRs for interface addresses). */
  address: string;
  prefix: number;
}

/** 4 or 6 for a literal IPv4/IPv6 address, undefined otherwise. Zone ids ("fe80::1%eth0") are rejected. */
export function ipFamily(s: string): IPFamily | undefined {
  // node accepts zone ids, but they have no meaning in CNI results or routes.
  if (s.includes('%')) return undefined;
  const f = netIsIP(s);
  return f === 4 ? 4 : f === 6 ? 6 : undefined;
}

export function isIP(s: string): boolean {
  return ipFamily(s) !== undefined;
}

/** Parses "addr/prefix"; throws an Error whose message says what is wrong with `s`. */
export function parseCidr(s: string): Cidr {
  const slash = s.indexOf('/');
  if (slash < 0) throw new Error(`${JSON.stringify(s)} is not a CIDR: missing "/prefix"`);
  const address = s.slice(0, slash);
  const prefixText = s.slice(slash + 1);
  const family = ipFamily(address);
  if (family === undefined) {
    throw new Error(`${JSON.stringify(s)} is not a CIDR: ${JSON.stringify(address)} is not an IPv4 or IPv6 address`);
  }
  // Digits only: Number() would accept "", " 24", "0x18" and "1e1".
  if (!/^[0-9]{1,3}$/.test(prefixText)) {
    throw new Error(`${JSON.stringify(s)} is not a CIDR: prefix ${JSON.stringify(prefixText)} is not a number`);
  }
  const prefix = Number(prefixText);
  const max = family === 4 ? 32 : 128;
  if (prefix > max) {
    throw new Error(`${JSON.stringify(s)} is not a CIDR: prefix ${prefix} is larger than ${max} for IPv${family}`);
  }
  return { family, address, prefix };
}
