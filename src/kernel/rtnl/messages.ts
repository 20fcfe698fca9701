// rtnetlink's wire format: the constants (linux/rtnetlink.h, if_link.h, if_addr.h, neighbour.h,
// fib_rules.h), the fixed message headers, and the checks every family shares.
import type { NetNs } from '../netns';
import { ipFamily, parseCidr, type Family } from '../ip';
import type { RouteSpec } from './types';

export const RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18;
export const RTM_NEWADDR = 20, RTM_DELADDR = 21, RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24, RTM_DELROUTE = 25, RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28, RTM_DELNEIGH = 29, RTM_GETNEIGH = 30;
export const RTM_NEWRULE = 32, RTM_DELRULE = 33, RTM_GETRULE = 34;

export const IFF_UP = 0x1, IFF_LOWER_UP = 0x10000;
export const IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_LINK = 5, IFLA_MASTER = 10, IFLA_OPERSTATE = 16;
export const IFLA_STATS64 = 23;
export const IFLA_LINKINFO = 18, IFLA_GROUP = 27, IFLA_NET_NS_FD = 28, IFLA_EXT_MASK = 29, IFLA_LINK_NETNSID = 37;
export const IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2;
export const RTEXT_FILTER_SKIP_STATS = 1 << 3;
export const VETH_INFO_PEER = 1;
export const IFLA_VXLAN_ID = 1, IFLA_VXLAN_GROUP = 2, IFLA_VXLAN_LINK = 3, IFLA_VXLAN_LOCAL = 4, IFLA_VXLAN_LEARNING = 7;
export const IFLA_VXLAN_PORT = 15, IFLA_VXLAN_GROUP6 = 16, IFLA_VXLAN_LOCAL6 = 17;
export const IFLA_MACVLAN_MODE = 1;
export const MACVLAN_MODES = { private: 1, vepa: 2, bridge: 4, passthru: 8 } as const;
export const OPERSTATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'];

export const IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_F_NODAD = 0x02;

export const RTA_DST = 1, RTA_OIF = 4, RTA_GATEWAY = 5, RTA_PRIORITY = 6, RTA_PREFSRC = 7, RTA_TABLE = 15;
export const RTN_UNICAST = 1, RTPROT_BOOT = 3, RTM_F_CLONED = 0x200;
export const RT_SCOPE_UNIVERSE = 0, RT_SCOPE_LINK = 253, RT_SCOPE_HOST = 254, RT_SCOPE_NOWHERE = 255;
export const RT_TABLE_MAIN = 254;
export const SCOPES: Record<NonNullable<RouteSpec['scope']>, number> = { universe: RT_SCOPE_UNIVERSE, link: RT_SCOPE_LINK, host: RT_SCOPE_HOST };

export const FRA_DST = 1, FRA_SRC = 2, FRA_IIFNAME = 3, FRA_PRIORITY = 6, FRA_TABLE = 15;
export const FR_ACT_TO_TBL = 1;

export const NDA_DST = 1, NDA_LLADDR = 2;
export const NUD_REACHABLE = 0x02, NUD_PERMANENT = 0x80;

export const ENOENT = 2, ESRCH = 3, ENODEV = 19, EADDRNOTAVAIL = 99;

// ---- fixed headers --------------------------------------------------------------------------

export function ifinfomsg(index = 0, flags = 0, change = 0, family = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags >>> 0, 8);
  b.writeUInt32LE(change >>> 0, 12);
  return b;
}
export function ifaddrmsg(family: number, prefix: number, flags: number, scope: number, index: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefix, 1);
  b.writeUInt8(flags, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(index, 4);
  return b;
}
export function rtmsg(family: number, dstLen: number, table: number, protocol: number, scope: number, type: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family, 0);
  b.writeUInt8(dstLen, 1);
  b.writeUInt8(table < 256 ? table : 0, 4);
  b.writeUInt8(protocol, 5);
  b.writeUInt8(scope, 6);
  b.writeUInt8(type, 7);
  return b;
}
export function fibRuleHdr(family: number, dstLen: number, srcLen: number, table: number, action: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family, 0);
  b.writeUInt8(dstLen, 1);
  b.writeUInt8(srcLen, 2);
  b.writeUInt8(table < 256 ? table : 0, 4);
  b.writeUInt8(action, 7);
  return b;
}
export function ndmsg(family: number, index: number, state: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt16LE(state, 8);
  return b;
}

// ---- input checks ---------------------------------------------------------------------------

export function checkMtu(mtu: number | undefined, field = 'mtu'): void {
  if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535)) throw new Error(`${field}: invalid MTU ${mtu}`);
}
export function checkGroup(g: number | undefined): void {
  checkU32(g, 'group');
}
export function checkU32(v: number | undefined, field: string): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw new Error(`${field}: invalid value ${v}`);
}
export function checkTable(t: number | undefined): void {
  if (t !== undefined && !(Number.isInteger(t) && t > 0 && t <= 0xffffffff)) throw new Error(`table: invalid routing table ${t}`);
}

/** Parse a route destination: 'default' (v4, or the gateway's family), 'default6', CIDR or bare IP. */
export function parseDst(dst: string, gw?: string): { family: Family; addr: Buffer; prefix: number } {
  if (dst === 'default' || dst === 'default6') {
    const family: Family = dst === 'default6' ? 6 : gw !== undefined && ipFamily(gw) === 6 ? 6 : 4;
    return { family, addr: Buffer.alloc(family === 4 ? 4 : 16), prefix: 0 };
  }
  return parseCidr(dst, 'dst', { allowBare: true });
}

export function openFd(ns: NetNs, field: string): number {
  if (ns.closed) throw new Error(`${field}: netns handle ${ns.path} is closed`);
  return ns.fd;
}
