/** IPv4/IPv6/MAC parsing and formatting to and from bytes. Throws plain Error naming the field. */
import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;
export const AF_INET = 2;
export const AF_INET6 = 10;

export interface Cidr {
  family: Family;
  addr: Buffer; // 4 or 16 bytes
  prefix: number;
}

export function afOf(family: Family): number {
  return family === 4 ? AF_INET : AF_INET6;
}

export function ipFamily(ip: string): Family | 0 {
  return isIPv4(ip) ? 4 : isIPv6(ip) ? 6 : 0;
}

export function parseIp(ip: string, field = 'ip'): { family: Family; addr: Buffer } {
  if (typeof ip !== 'string') throw new Error(`${field}: expected an IP address string`);
  if (isIPv4(ip)) return { family: 4, addr: Buffer.from(ip.split('.').map(Number)) };
  if (isIPv6(ip)) return { family: 6, addr: parseIPv6(ip) };
  throw new Error(`${field}: invalid IP address ${JSON.stringify(ip)}`);
}

function parseIPv6(ip: string): Buffer {
  // isIPv6() has already validated the syntax
  let s = ip.split('%')[0] ?? '';
  let tail: number[] = [];
  if (s.includes('.')) {
    const idx = s.lastIndexOf(':');
    const v4 = s.slice(idx + 1).split('.').map(Number);
    tail = [((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0)];
    s = s.slice(0, idx + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const groups = (part: string | undefined): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const halves = s.split('::');
  let all: number[];
  if (halves.length > 1) {
    const left = groups(halves[0]);
    const right = [...groups(halves[1]), ...tail];
    all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  } else {
    all = [...groups(halves[0]), ...tail];
  }
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export function formatIp(addr: Buffer): string {
  if (addr.length === 4) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  if (addr.length !== 16) throw new Error(`address of ${addr.length} bytes`);
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(addr.readUInt16BE(i * 2));
  // longest run of zeros (length >= 2) becomes '::' (RFC 5952)
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** '10.0.0.1/24', 'fd00::1/64'. With allowBare, '10.0.0.1' means /32 (or /128). */
export function parseCidr(cidr: string, field = 'cidr', opts: { allowBare?: boolean } = {}): Cidr {
  if (typeof cidr !== 'string') throw new Error(`${field}: expected a CIDR string`);
  const slash = cidr.indexOf('/');
  if (slash < 0) {
    if (!opts.allowBare) throw new Error(`${field}: invalid CIDR ${JSON.stringify(cidr)} (missing /prefix)`);
    const { family, addr } = parseIp(cidr, field);
    return { family, addr, prefix: family === 4 ? 32 : 128 };
  }
  const { family, addr } = parseIp(cidr.slice(0, slash), field);
  const p = cidr.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(p) ? Number(p) : NaN;
  if (!(prefix >= 0 && prefix <= (family === 4 ? 32 : 128))) throw new Error(`${field}: invalid prefix length in ${JSON.stringify(cidr)}`);
  return { family, addr, prefix };
}

export function formatCidr(addr: Buffer, prefix: number): string {
  return `${formatIp(addr)}/${prefix}`;
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function parseMac(mac: string, field = 'mac'): Buffer {
  if (typeof mac !== 'string' || !MAC_RE.test(mac)) throw new Error(`${field}: invalid MAC address ${JSON.stringify(mac)}`);
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function formatMac(b: Buffer): string {
  const h = b.toString('hex');
  let out = h.slice(0, 2);
  for (let i = 2; i < h.length; i += 2) out += `:${h.slice(i, i + 2)}`;
  return out;
}

/** Linux interface names: 1..15 bytes, no '/', no whitespace, not '.' or '..'. */
export function validateIfName(name: string, field = 'name'): void {
  if (typeof name !== 'string' || name.length === 0) throw new Error(`${field}: interface name must be a non-empty string`);
  if (Buffer.byteLength(name) > 15) throw new Error(`${field}: interface name ${JSON.stringify(name)} is longer than 15 bytes`);
  if (name === '.' || name === '..' || /[\s/:\0]/.test(name)) throw new Error(`${field}: invalid interface name ${JSON.stringify(name)}`);
}
