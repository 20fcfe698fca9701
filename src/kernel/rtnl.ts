/**
 * rtnetlink operations: links, addresses, routes, rules, neighbours.
 * One Rtnl = one NETLINK_ROUTE socket, created in a netns and bound to it for life.
 */
import { KernelError } from './errors';
import { NetNs } from './netns';
import {
  MsgBuilder, NetlinkSocket, parseAttrs, attrStr, attrU32, type Attrs,
  NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE,
} from './netlink';
import {
  AF_INET, AF_INET6, afOf, formatCidr, formatIp, formatMac, ipFamily, parseCidr, parseIp, parseMac,
  validateIfName, type Family,
} from './ip';

// ---- public types -------------------------------------------------------------------------

export interface LinkInfo {
  index: number;
  name: string;
  kind?: string;
  mtu: number;
  mac: string;
  up: boolean;
  operState: string;
  carrier: boolean;
  master?: number;
  peerIndex?: number;
  linkNetnsId?: number;
  /** Device group (IFLA_GROUP); 0 is the kernel's default group. */
  group: number;
  /** For kind 'vxlan': its parameters, so callers can tell a correct device from a stale one. */
  vxlan?: VxlanInfo;
}
/** A link's counters as the kernel keeps them (rtnl_link_stats64). */
export interface LinkStats { rxPackets: number; txPackets: number; rxBytes: number; txBytes: number; rxDropped: number; txDropped: number }
export interface VxlanInfo { vni: number; remote?: string; local?: string; dev?: number; dstPort: number }
export interface AddrInfo { ifindex: number; dev: string; family: 4 | 6; cidr: string }
export interface RouteSpec {
  dst: string;
  gw?: string;
  dev?: string;
  table?: number;
  scope?: 'universe' | 'link' | 'host';
  src?: string;
  metric?: number;
  protocol?: number;
}
export interface RouteInfo extends RouteSpec { family: 4 | 6; table: number }
export interface RuleSpec { priority?: number; from?: string; to?: string; table: number; family?: 4 | 6; iif?: string }
export interface NeighSpec { dev: string; ip: string; mac?: string; permanent?: boolean }
export interface NeighInfo { dev: string; ifindex: number; ip: string; mac?: string; state: number; permanent: boolean }
export interface VethSpec {
  name: string; peerName: string; peerNs?: NetNs; mtu?: number; mac?: string; peerMac?: string;
  /** Device group for both ends, so deleteGroup() can remove many links in one kernel batch. */
  group?: number;
}
export interface VxlanSpec {
  name: string; vni: number; local?: string; remote?: string; group?: string; dev?: string;
  dstPort?: number; mtu?: number; learning?: boolean; ns?: NetNs;
  /** Device group (IFLA_GROUP; `group` above is the multicast group). */
  devGroup?: number;
}
export interface MacvlanSpec {
  name: string; parent: string; mode?: 'private' | 'vepa' | 'bridge' | 'passthru'; ns?: NetNs; mtu?: number; mac?: string;
  group?: number;
}

// ---- constants (linux/rtnetlink.h, if_link.h, if_addr.h, neighbour.h, fib_rules.h) ----------

const RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18;
const RTM_NEWADDR = 20, RTM_DELADDR = 21, RTM_GETADDR = 22;
const RTM_NEWROUTE = 24, RTM_DELROUTE = 25, RTM_GETROUTE = 26;
const RTM_NEWNEIGH = 28, RTM_DELNEIGH = 29, RTM_GETNEIGH = 30;
const RTM_NEWRULE = 32, RTM_DELRULE = 33, RTM_GETRULE = 34;

const IFF_UP = 0x1, IFF_LOWER_UP = 0x10000;
const IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_LINK = 5, IFLA_MASTER = 10, IFLA_OPERSTATE = 16;
const IFLA_STATS64 = 23;
const IFLA_LINKINFO = 18, IFLA_GROUP = 27, IFLA_NET_NS_FD = 28, IFLA_EXT_MASK = 29, IFLA_LINK_NETNSID = 37;
const IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2;
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const VETH_INFO_PEER = 1;
const IFLA_VXLAN_ID = 1, IFLA_VXLAN_GROUP = 2, IFLA_VXLAN_LINK = 3, IFLA_VXLAN_LOCAL = 4, IFLA_VXLAN_LEARNING = 7;
const IFLA_VXLAN_PORT = 15, IFLA_VXLAN_GROUP6 = 16, IFLA_VXLAN_LOCAL6 = 17;
const IFLA_MACVLAN_MODE = 1;
const MACVLAN_MODES = { private: 1, vepa: 2, bridge: 4, passthru: 8 } as const;
const OPERSTATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'];

const IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_F_NODAD = 0x02;

const RTA_DST = 1, RTA_OIF = 4, RTA_GATEWAY = 5, RTA_PRIORITY = 6, RTA_PREFSRC = 7, RTA_TABLE = 15;
const RTN_UNICAST = 1, RTPROT_BOOT = 3, RTM_F_CLONED = 0x200;
const RT_SCOPE_UNIVERSE = 0, RT_SCOPE_LINK = 253, RT_SCOPE_HOST = 254, RT_SCOPE_NOWHERE = 255;
const RT_TABLE_MAIN = 254;
const SCOPES: Record<NonNullable<RouteSpec['scope']>, number> = { universe: RT_SCOPE_UNIVERSE, link: RT_SCOPE_LINK, host: RT_SCOPE_HOST };

const FRA_DST = 1, FRA_SRC = 2, FRA_IIFNAME = 3, FRA_PRIORITY = 6, FRA_TABLE = 15;
const FR_ACT_TO_TBL = 1;

const NDA_DST = 1, NDA_LLADDR = 2;
const NUD_REACHABLE = 0x02, NUD_PERMANENT = 0x80;

const ENOENT = 2, ESRCH = 3, ENODEV = 19, EADDRNOTAVAIL = 99;

// ---- fixed headers --------------------------------------------------------------------------

function ifinfomsg(index = 0, flags = 0, change = 0, family = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags >>> 0, 8);
  b.writeUInt32LE(change >>> 0, 12);
  return b;
}
function ifaddrmsg(family: number, prefix: number, flags: number, scope: number, index: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefix, 1);
  b.writeUInt8(flags, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(index, 4);
  return b;
}
function rtmsg(family: number, dstLen: number, table: number, protocol: number, scope: number, type: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family, 0);
  b.writeUInt8(dstLen, 1);
  b.writeUInt8(table < 256 ? table : 0, 4);
  b.writeUInt8(protocol, 5);
  b.writeUInt8(scope, 6);
  b.writeUInt8(type, 7);
  return b;
}
function fibRuleHdr(family: number, dstLen: number, srcLen: number, table: number, action: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family, 0);
  b.writeUInt8(dstLen, 1);
  b.writeUInt8(srcLen, 2);
  b.writeUInt8(table < 256 ? table : 0, 4);
  b.writeUInt8(action, 7);
  return b;
}
function ndmsg(family: number, index: number, state: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt16LE(state, 8);
  return b;
}

// ---- input checks ---------------------------------------------------------------------------

function checkMtu(mtu: number | undefined, field = 'mtu'): void {
  if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535)) throw new Error(`${field}: invalid MTU ${mtu}`);
}
function checkGroup(g: number | undefined): void {
  checkU32(g, 'group');
}
function checkU32(v: number | undefined, field: string): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw new Error(`${field}: invalid value ${v}`);
}
function checkTable(t: number | undefined): void {
  if (t !== undefined && !(Number.isInteger(t) && t > 0 && t <= 0xffffffff)) throw new Error(`table: invalid routing table ${t}`);
}

/** Parse a route destination: 'default' (v4, or the gateway's family), 'default6', CIDR or bare IP. */
function parseDst(dst: string, gw?: string): { family: Family; addr: Buffer; prefix: number } {
  if (dst === 'default' || dst === 'default6') {
    const family: Family = dst === 'default6' ? 6 : gw !== undefined && ipFamily(gw) === 6 ? 6 : 4;
    return { family, addr: Buffer.alloc(family === 4 ? 4 : 16), prefix: 0 };
  }
  return parseCidr(dst, 'dst', true);
}

// ---- the handle -----------------------------------------------------------------------------

export class Rtnl {
  private readonly sock: NetlinkSocket;
  /** ' in netns /var/run/netns/x' or '' (current netns), appended to op texts. */
  private readonly where: string;

  private constructor(sock: NetlinkSocket, where: string) {
    this.sock = sock;
    this.where = where;
  }

  /** Socket created inside ns and bound there for life; default: the current netns. */
  static open(ns?: NetNs): Rtnl {
    return new Rtnl(NetlinkSocket.open(ns), ns ? ` in netns ${ns.path}` : '');
  }

  close(): void {
    this.sock.close();
  }

  // ---- links ----

  /** Hot path (dumps of thousands of links): walk the attributes once, touch only the ones we report. */
  private static parseLink(p: Buffer): LinkInfo {
    const index = p.readInt32LE(4);
    const flags = p.readUInt32LE(8);
    const info: LinkInfo = {
      index,
      name: '',
      mtu: 0,
      mac: '',
      up: (flags & IFF_UP) !== 0,
      operState: 'unknown',
      carrier: (flags & IFF_LOWER_UP) !== 0,
      group: 0,
    };
    const end = p.length;
    for (let off = 16; off + 4 <= end; ) {
      const len = p.readUInt16LE(off);
      if (len < 4 || off + len > end) break;
      const v = off + 4;
      switch (p.readUInt16LE(off + 2) & 0x3fff) {
        case IFLA_IFNAME: {
          const nul = p.indexOf(0, v);
          info.name = p.toString('utf8', v, nul < 0 || nul > off + len ? off + len : nul);
          break;
        }
        case IFLA_MTU: info.mtu = p.readUInt32LE(v); break;
        case IFLA_ADDRESS: info.mac = formatMac(p.subarray(v, off + len)); break;
        case IFLA_OPERSTATE: info.operState = OPERSTATES[p.readUInt8(v)] ?? 'unknown'; break;
        case IFLA_MASTER: { const m = p.readUInt32LE(v); if (m) info.master = m; break; }
        // the kernel omits IFLA_LINK when it equals ifindex in the same netns; across netns both can be equal
        case IFLA_LINK: { const l = p.readUInt32LE(v); if (l) info.peerIndex = l; break; }
        case IFLA_LINK_NETNSID: info.linkNetnsId = p.readInt32LE(v); break;
        case IFLA_GROUP: info.group = p.readUInt32LE(v); break;
        case IFLA_LINKINFO: {
          const li = parseAttrs(p, v, off + len);
          const kind = attrStr(li, IFLA_INFO_KIND);
          if (kind) info.kind = kind;
          const data = li.get(IFLA_INFO_DATA);
          if (kind === 'vxlan' && data) info.vxlan = Rtnl.parseVxlan(parseAttrs(data));
          break;
        }
      }
      off += (len + 3) & ~3;
    }
    return info;
  }

  private static parseVxlan(a: Attrs): VxlanInfo {
    const ip = (k4: number, k6: number) => {
      const b = a.get(k4) ?? a.get(k6);
      return b && (b.length === 4 || b.length === 16) ? formatIp(b) : undefined;
    };
    const out: VxlanInfo = { vni: attrU32(a, IFLA_VXLAN_ID) ?? 0, dstPort: a.get(IFLA_VXLAN_PORT)?.readUInt16BE(0) ?? 0 };
    const remote = ip(IFLA_VXLAN_GROUP, IFLA_VXLAN_GROUP6);
    const local = ip(IFLA_VXLAN_LOCAL, IFLA_VXLAN_LOCAL6);
    const dev = attrU32(a, IFLA_VXLAN_LINK);
    if (remote !== undefined) out.remote = remote;
    if (local !== undefined) out.local = local;
    if (dev) out.dev = dev;
    return out;
  }

  links(): LinkInfo[] {
    const op = `listing links${this.where}`;
    return this.sock
      .dump(() => new MsgBuilder(RTM_GETLINK, NLM_F_DUMP, ifinfomsg()).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS), RTM_NEWLINK, op)
      .map(Rtnl.parseLink);
  }

  /**
   * Packet and byte counters of every link, by name (IFLA_STATS64): a separate dump, since
   * links() skips the statistics to stay fast on nodes with thousands of links.
   */
  linkStats(): Map<string, LinkStats> {
    const op = `reading link counters${this.where}`;
    const out = new Map<string, LinkStats>();
    for (const p of this.sock.dump(() => new MsgBuilder(RTM_GETLINK, NLM_F_DUMP, ifinfomsg()), RTM_NEWLINK, op)) {
      let name = '';
      let stats: LinkStats | undefined;
      for (let off = 16; off + 4 <= p.length; ) {
        const len = p.readUInt16LE(off);
        if (len < 4 || off + len > p.length) break;
        const type = p.readUInt16LE(off + 2) & 0x3fff;
        const v = off + 4;
        if (type === IFLA_IFNAME) name = p.toString('utf8', v, off + len).replace(/\0+$/, '');
        else if (type === IFLA_STATS64 && len >= 4 + 64) {
          const u64 = (i: number) => Number(p.readBigUInt64LE(v + 8 * i));
          stats = { rxPackets: u64(0), txPackets: u64(1), rxBytes: u64(2), txBytes: u64(3), rxDropped: u64(6), txDropped: u64(7) };
        }
        off += (len + 3) & ~3;
      }
      if (name && stats) out.set(name, stats);
    }
    return out;
  }

  link(name: string): LinkInfo | undefined {
    validateIfName(name);
    const msg = new MsgBuilder(RTM_GETLINK, 0, ifinfomsg()).str(IFLA_IFNAME, name).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    const p = this.sock.get(msg, RTM_NEWLINK, `looking up link ${name}${this.where}`, [ENODEV]);
    return p ? Rtnl.parseLink(p) : undefined;
  }

  linkByIndex(index: number): LinkInfo | undefined {
    if (!(Number.isInteger(index) && index > 0)) throw new Error(`index: invalid ifindex ${index}`);
    const msg = new MsgBuilder(RTM_GETLINK, 0, ifinfomsg(index)).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    const p = this.sock.get(msg, RTM_NEWLINK, `looking up link #${index}${this.where}`, [ENODEV]);
    return p ? Rtnl.parseLink(p) : undefined;
  }

  /** ifindex of name, or KernelError ENODEV naming op. */
  private indexOf(name: string, op: string): number {
    const l = this.link(name);
    if (!l) throw new KernelError(op, ENODEV);
    return l.index;
  }

  private newLink(name: string, kind: string, op: string, opts: {
    mtu?: number; mac?: string; ns?: NetNs; link?: number; group?: number; data?: (b: MsgBuilder) => void;
  }): void {
    const msg = new MsgBuilder(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, ifinfomsg()).str(IFLA_IFNAME, name);
    if (opts.mtu !== undefined) msg.u32(IFLA_MTU, opts.mtu);
    if (opts.mac !== undefined) msg.attr(IFLA_ADDRESS, parseMac(opts.mac));
    if (opts.link !== undefined) msg.u32(IFLA_LINK, opts.link);
    if (opts.group !== undefined) msg.u32(IFLA_GROUP, opts.group);
    if (opts.ns) msg.u32(IFLA_NET_NS_FD, openFd(opts.ns, 'ns'));
    msg.nest(IFLA_LINKINFO, (b) => {
      b.str(IFLA_INFO_KIND, kind);
      if (opts.data) b.nest(IFLA_INFO_DATA, opts.data);
    });
    this.sock.request(msg, op);
  }

  createVeth(s: VethSpec): void {
    validateIfName(s.name, 'name');
    validateIfName(s.peerName, 'peerName');
    checkMtu(s.mtu);
    checkGroup(s.group);
    const peerMac = s.peerMac !== undefined ? parseMac(s.peerMac, 'peerMac') : undefined;
    if (s.mac !== undefined) parseMac(s.mac, 'mac');
    const peerFd = s.peerNs ? openFd(s.peerNs, 'peerNs') : undefined;
    const op = `creating veth ${s.name}${this.where} (peer ${s.peerName}${s.peerNs ? ` in netns ${s.peerNs.path}` : ''})`;
    this.newLink(s.name, 'veth', op, {
      ...(s.mtu !== undefined ? { mtu: s.mtu } : {}),
      ...(s.mac !== undefined ? { mac: s.mac } : {}),
      ...(s.group !== undefined ? { group: s.group } : {}),
      data: (b) =>
        b.nest(VETH_INFO_PEER, (p) => {
          p.raw(ifinfomsg());
          p.str(IFLA_IFNAME, s.peerName);
          if (s.mtu !== undefined) p.u32(IFLA_MTU, s.mtu);
          if (s.group !== undefined) p.u32(IFLA_GROUP, s.group);
          if (peerMac) p.attr(IFLA_ADDRESS, peerMac);
          if (peerFd !== undefined) p.u32(IFLA_NET_NS_FD, peerFd);
        }),
    });
  }

  createVxlan(s: VxlanSpec): void {
    validateIfName(s.name);
    if (!(Number.isInteger(s.vni) && s.vni >= 0 && s.vni < 1 << 24)) throw new Error(`vni: invalid VXLAN id ${s.vni}`);
    checkMtu(s.mtu);
    const port = s.dstPort ?? 4789;
    if (!(Number.isInteger(port) && port > 0 && port < 65536)) throw new Error(`dstPort: invalid port ${s.dstPort}`);
    if (s.remote !== undefined && s.group !== undefined) throw new Error('remote/group: give one of them, not both');
    const peer = s.remote !== undefined ? parseIp(s.remote, 'remote') : s.group !== undefined ? parseIp(s.group, 'group') : undefined;
    const local = s.local !== undefined ? parseIp(s.local, 'local') : undefined;
    if (s.dev !== undefined) validateIfName(s.dev, 'dev');
    const where = s.ns ? `${this.where} for netns ${s.ns.path}` : this.where;
    const op = `creating vxlan ${s.name} (vni ${s.vni}${s.remote ? ` remote ${s.remote}` : ''}${s.group ? ` group ${s.group}` : ''}${s.dev ? ` dev ${s.dev}` : ''})${where}`;
    const devIndex = s.dev !== undefined ? this.indexOf(s.dev, `${op}: underlay ${s.dev}`) : undefined;
    checkGroup(s.devGroup);
    this.newLink(s.name, 'vxlan', op, {
      ...(s.mtu !== undefined ? { mtu: s.mtu } : {}),
      ...(s.ns ? { ns: s.ns } : {}),
      ...(s.devGroup !== undefined ? { group: s.devGroup } : {}),
      data: (b) => {
        b.u32(IFLA_VXLAN_ID, s.vni);
        if (peer) b.attr(peer.family === 4 ? IFLA_VXLAN_GROUP : IFLA_VXLAN_GROUP6, peer.addr);
        if (local) b.attr(local.family === 4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, local.addr);
        if (devIndex !== undefined) b.u32(IFLA_VXLAN_LINK, devIndex);
        b.be16(IFLA_VXLAN_PORT, port);
        b.u8(IFLA_VXLAN_LEARNING, s.learning === false ? 0 : 1);
      },
    });
  }

  createMacvlan(s: MacvlanSpec): void {
    validateIfName(s.name);
    validateIfName(s.parent, 'parent');
    checkMtu(s.mtu);
    const mode = MACVLAN_MODES[s.mode ?? 'bridge'];
    if (mode === undefined) throw new Error(`mode: invalid macvlan mode ${String(s.mode)}`);
    if (s.mac !== undefined) parseMac(s.mac);
    checkGroup(s.group);
    const where = s.ns ? `${this.where} for netns ${s.ns.path}` : this.where;
    const op = `creating macvlan ${s.name} on ${s.parent}${where}`;
    const parent = this.indexOf(s.parent, `${op}: parent`);
    this.newLink(s.name, 'macvlan', op, {
      link: parent,
      ...(s.mtu !== undefined ? { mtu: s.mtu } : {}),
      ...(s.mac !== undefined ? { mac: s.mac } : {}),
      ...(s.ns ? { ns: s.ns } : {}),
      ...(s.group !== undefined ? { group: s.group } : {}),
      data: (b) => b.u32(IFLA_MACVLAN_MODE, mode),
    });
  }

  createBridge(name: string, opts: { mtu?: number } = {}): void {
    validateIfName(name);
    checkMtu(opts.mtu);
    this.newLink(name, 'bridge', `creating bridge ${name}${this.where}`, opts.mtu !== undefined ? { mtu: opts.mtu } : {});
  }

  /** RTM_NEWLINK on an existing link found by name (no create). */
  private setLink(name: string, op: string, fill: (b: MsgBuilder) => void, flags = 0, change = 0): void {
    validateIfName(name);
    const msg = new MsgBuilder(RTM_NEWLINK, NLM_F_ACK, ifinfomsg(0, flags, change)).str(IFLA_IFNAME, name);
    fill(msg);
    this.sock.request(msg, op);
  }

  setUp(name: string): void {
    this.setLink(name, `setting ${name} up${this.where}`, () => {}, IFF_UP, IFF_UP);
  }

  setDown(name: string): void {
    this.setLink(name, `setting ${name} down${this.where}`, () => {}, 0, IFF_UP);
  }

  setMtu(name: string, mtu: number): void {
    checkMtu(mtu);
    this.setLink(name, `setting mtu ${mtu} on ${name}${this.where}`, (b) => b.u32(IFLA_MTU, mtu));
  }

  setMac(name: string, mac: string): void {
    const m = parseMac(mac);
    this.setLink(name, `setting mac ${mac} on ${name}${this.where}`, (b) => b.attr(IFLA_ADDRESS, m));
  }

  rename(name: string, newName: string): void {
    validateIfName(name);
    validateIfName(newName, 'newName');
    const op = `renaming ${name} to ${newName}${this.where}`;
    const index = this.indexOf(name, op);
    const msg = new MsgBuilder(RTM_NEWLINK, NLM_F_ACK, ifinfomsg(index)).str(IFLA_IFNAME, newName);
    this.sock.request(msg, op);
  }

  setNetns(name: string, ns: NetNs, newName?: string): void {
    validateIfName(name);
    if (newName !== undefined) validateIfName(newName, 'newName');
    const op = `moving ${name}${this.where} to netns ${ns.path}${newName !== undefined ? ` as ${newName}` : ''}`;
    const fd = openFd(ns, 'ns');
    if (newName === undefined) {
      this.setLink(name, op, (b) => b.u32(IFLA_NET_NS_FD, fd));
      return;
    }
    const index = this.indexOf(name, op);
    const msg = new MsgBuilder(RTM_NEWLINK, NLM_F_ACK, ifinfomsg(index)).u32(IFLA_NET_NS_FD, fd).str(IFLA_IFNAME, newName);
    this.sock.request(msg, op);
  }

  setMaster(name: string, master: string | null): void {
    if (master !== null) validateIfName(master, 'master');
    const op = master === null ? `detaching ${name} from its master${this.where}` : `enslaving ${name} to ${master}${this.where}`;
    const mi = master === null ? 0 : this.indexOf(master, op);
    this.setLink(name, op, (b) => b.u32(IFLA_MASTER, mi));
  }

  /** False when the link did not exist. */
  deleteLink(name: string): boolean {
    validateIfName(name);
    const msg = new MsgBuilder(RTM_DELLINK, NLM_F_ACK, ifinfomsg()).str(IFLA_IFNAME, name);
    try {
      this.sock.request(msg, `deleting link ${name}${this.where}`);
      return true;
    } catch (err) {
      if (err instanceof KernelError && err.errno === ENODEV) return false;
      throw err;
    }
  }

  /**
   * Deletes every link of device group `group` in this netns in one request. The kernel
   * unregisters them as one batch (one RCU grace period for all, where deleteLink pays one
   * each, ~16 ms apiece here); veth peers in other namespaces go with them. False when the
   * group was empty.
   */
  deleteGroup(group: number): boolean {
    checkGroup(group);
    if (group === 0) throw new Error('group: refusing to delete the default group 0 (every link)');
    const msg = new MsgBuilder(RTM_DELLINK, NLM_F_ACK, ifinfomsg()).u32(IFLA_GROUP, group);
    try {
      this.sock.request(msg, `deleting links of group ${group}${this.where}`);
      return true;
    } catch (err) {
      // The kernel answers ENODEV when no link is in the group: nothing to delete.
      if (err instanceof KernelError && err.errno === ENODEV) return false;
      throw err;
    }
  }

  /** Moves a link into device group `group`. */
  setGroup(name: string, group: number): void {
    checkGroup(group);
    this.setLink(name, `setting group of ${name} to ${group}${this.where}`, (b) => b.u32(IFLA_GROUP, group));
  }

  /** ifindex → name for one device (ENODEV naming op when it is missing) or for all. */
  private namesFor(dev: string | undefined, op: string): Map<number, string> {
    if (dev === undefined) return this.linkNames();
    validateIfName(dev, 'dev');
    const l = this.link(dev);
    if (!l) throw new KernelError(op, ENODEV);
    return new Map([[l.index, l.name]]);
  }

  private linkNames(): Map<number, string> {
    return new Map(this.links().map((l) => [l.index, l.name]));
  }

  // ---- addresses ----

  /**
   * Addresses of one device (ENODEV when it is missing) or of all. A device removed while this
   * reads is simply absent from the list: callers that must tell "gone" from "no addresses" use
   * linkAddrs.
   */
  addrs(dev?: string): AddrInfo[] {
    const op = `listing addresses${dev ? ` of ${dev}` : ''}${this.where}`;
    const names = this.namesFor(dev, op);
    return this.addrDump(op).filter((a) => names.has(a.ifindex)).map((a) => ({ ...a, dev: names.get(a.ifindex)! }));
  }

  /**
   * A link and its addresses as one consistent read, undefined when the link does not exist. The
   * addresses (keyed by ifindex) are read before the link, so a link removed between the two reads
   * is reported absent, never as ENODEV from a look-up by a name that has just gone (issue 21).
   */
  linkAddrs(name: string): { link: LinkInfo; addrs: AddrInfo[] } | undefined {
    validateIfName(name);
    const all = this.addrDump(`listing addresses of ${name}${this.where}`);
    const link = this.link(name);
    if (!link) return undefined;
    return { link, addrs: all.filter((a) => a.ifindex === link.index).map((a) => ({ ...a, dev: link.name })) };
  }

  /** Every IPv4/IPv6 address of this netns by ifindex (`dev` left empty: the caller names it). */
  private addrDump(op: string): AddrInfo[] {
    const out: AddrInfo[] = [];
    for (const p of this.sock.dump(() => new MsgBuilder(RTM_GETADDR, NLM_F_DUMP, ifaddrmsg(0, 0, 0, 0, 0)), RTM_NEWADDR, op)) {
      const family = p.readUInt8(0);
      if (family !== AF_INET && family !== AF_INET6) continue;
      const a = parseAttrs(p, 8);
      const addr = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS);
      if (!addr) continue;
      out.push({ ifindex: p.readUInt32LE(4), dev: '', family: family === AF_INET ? 4 : 6, cidr: formatCidr(addr, p.readUInt8(1)) });
    }
    return out;
  }

  addAddr(dev: string, cidr: string, opts: { replace?: boolean; noDad?: boolean } = {}): void {
    validateIfName(dev, 'dev');
    const c = parseCidr(cidr);
    const op = `adding address ${cidr} to ${dev}${this.where}`;
    const index = this.indexOf(dev, op);
    const loopback = c.family === 4 ? c.addr[0] === 127 : c.addr.equals(Buffer.from([...new Array(15).fill(0), 1]));
    const flags = c.family === 6 && opts.noDad ? IFA_F_NODAD : 0;
    const msg = new MsgBuilder(
      RTM_NEWADDR,
      NLM_F_ACK | NLM_F_CREATE | (opts.replace ? NLM_F_REPLACE : NLM_F_EXCL),
      ifaddrmsg(afOf(c.family), c.prefix, flags, loopback ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE, index),
    )
      .attr(IFA_LOCAL, c.addr)
      .attr(IFA_ADDRESS, c.addr);
    this.sock.request(msg, op);
  }

  /** False when the address (or the device) did not exist. */
  delAddr(dev: string, cidr: string): boolean {
    validateIfName(dev, 'dev');
    const c = parseCidr(cidr);
    const op = `deleting address ${cidr} from ${dev}${this.where}`;
    const l = this.link(dev);
    if (!l) return false;
    const msg = new MsgBuilder(RTM_DELADDR, NLM_F_ACK, ifaddrmsg(afOf(c.family), c.prefix, 0, 0, l.index))
      .attr(IFA_LOCAL, c.addr)
      .attr(IFA_ADDRESS, c.addr);
    try {
      this.sock.request(msg, op);
      return true;
    } catch (err) {
      if (err instanceof KernelError && [EADDRNOTAVAIL, ENOENT, ENODEV].includes(err.errno)) return false;
      throw err;
    }
  }

  // ---- routes ----

  /** Unicast routes (cloned/cache entries skipped), all tables unless filter.table. */
  routes(filter: { family?: 4 | 6; table?: number } = {}): RouteInfo[] {
    const op = `listing routes${this.where}`;
    const fam = filter.family === undefined ? 0 : afOf(filter.family);
    const names = this.linkNames();
    const out: RouteInfo[] = [];
    for (const p of this.sock.dump(() => new MsgBuilder(RTM_GETROUTE, NLM_F_DUMP, rtmsg(fam, 0, 0, 0, 0, 0)), RTM_NEWROUTE, op)) {
      const family = p.readUInt8(0);
      if ((family !== AF_INET && family !== AF_INET6) || (fam && family !== fam)) continue;
      if (p.readUInt8(7) !== RTN_UNICAST || p.readUInt32LE(8) & RTM_F_CLONED) continue;
      const a = parseAttrs(p, 12);
      const table = attrU32(a, RTA_TABLE) ?? p.readUInt8(4);
      if (filter.table !== undefined && table !== filter.table) continue;
      const dstLen = p.readUInt8(1);
      const f: Family = family === AF_INET ? 4 : 6;
      const dstAddr = a.get(RTA_DST);
      const r: RouteInfo = {
        family: f,
        table,
        dst: dstLen === 0 ? (f === 4 ? 'default' : '::/0') : formatCidr(dstAddr ?? Buffer.alloc(f === 4 ? 4 : 16), dstLen),
        protocol: p.readUInt8(5),
      };
      const scope = p.readUInt8(6);
      r.scope = scope === RT_SCOPE_LINK ? 'link' : scope === RT_SCOPE_HOST ? 'host' : 'universe';
      const gw = a.get(RTA_GATEWAY);
      if (gw) r.gw = formatIp(gw);
      const oif = attrU32(a, RTA_OIF);
      if (oif !== undefined) r.dev = names.get(oif) ?? `if${oif}`;
      const src = a.get(RTA_PREFSRC);
      if (src) r.src = formatIp(src);
      const metric = attrU32(a, RTA_PRIORITY);
      if (metric !== undefined) r.metric = metric;
      out.push(r);
    }
    return out;
  }

  private routeMsg(type: number, flags: number, r: RouteSpec, op: string, forDelete: boolean): MsgBuilder | undefined {
    const d = parseDst(r.dst, r.gw);
    const gw = r.gw !== undefined ? parseIp(r.gw, 'gw') : undefined;
    if (gw && gw.family !== d.family) throw new Error(`gw: ${r.gw} is not the same family as dst ${r.dst}`);
    const src = r.src !== undefined ? parseIp(r.src, 'src') : undefined;
    if (src && src.family !== d.family) throw new Error(`src: ${r.src} is not the same family as dst ${r.dst}`);
    checkTable(r.table);
    checkU32(r.metric, 'metric');
    if (r.protocol !== undefined && !(Number.isInteger(r.protocol) && r.protocol >= 0 && r.protocol < 256)) throw new Error(`protocol: invalid value ${r.protocol}`);
    if (r.scope !== undefined && !(r.scope in SCOPES)) throw new Error(`scope: invalid value ${String(r.scope)}`);
    let oif: number | undefined;
    if (r.dev !== undefined) {
      validateIfName(r.dev, 'dev');
      const l = this.link(r.dev);
      if (!l) {
        if (forDelete) return undefined;
        throw new KernelError(op, ENODEV);
      }
      oif = l.index;
    }
    const table = r.table ?? RT_TABLE_MAIN;
    const scope = r.scope !== undefined ? SCOPES[r.scope] : forDelete ? RT_SCOPE_NOWHERE : gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    const protocol = r.protocol ?? (forDelete ? 0 : RTPROT_BOOT);
    const msg = new MsgBuilder(type, flags, rtmsg(afOf(d.family), d.prefix, table, protocol, scope, forDelete ? 0 : RTN_UNICAST));
    msg.u32(RTA_TABLE, table);
    if (d.prefix > 0) msg.attr(RTA_DST, d.addr);
    if (gw) msg.attr(RTA_GATEWAY, gw.addr);
    if (oif !== undefined) msg.u32(RTA_OIF, oif);
    if (src) msg.attr(RTA_PREFSRC, src.addr);
    if (r.metric !== undefined) msg.u32(RTA_PRIORITY, r.metric);
    return msg;
  }

  private routeText(r: RouteSpec): string {
    return `${r.dst}${r.gw ? ` via ${r.gw}` : ''}${r.dev ? ` dev ${r.dev}` : ''}${r.table ? ` table ${r.table}` : ''}${this.where}`;
  }

  addRoute(r: RouteSpec & { replace?: boolean }): void {
    const op = `adding route ${this.routeText(r)}`;
    const msg = this.routeMsg(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | (r.replace ? NLM_F_REPLACE : NLM_F_EXCL), r, op, false)!;
    this.sock.request(msg, op);
  }

  /** False when no such route (or its device) existed. */
  delRoute(r: RouteSpec): boolean {
    const op = `deleting route ${this.routeText(r)}`;
    const msg = this.routeMsg(RTM_DELROUTE, NLM_F_ACK, r, op, true);
    if (!msg) return false;
    try {
      this.sock.request(msg, op);
      return true;
    } catch (err) {
      if (err instanceof KernelError && [ESRCH, ENOENT, ENODEV].includes(err.errno)) return false;
      throw err;
    }
  }

  // ---- rules ----

  rules(family: 4 | 6 = 4): (RuleSpec & { family: 4 | 6; priority: number })[] {
    const op = `listing ip${family === 6 ? '-6' : ''} rules${this.where}`;
    const af = afOf(family);
    const out: (RuleSpec & { family: 4 | 6; priority: number })[] = [];
    for (const p of this.sock.dump(() => new MsgBuilder(RTM_GETRULE, NLM_F_DUMP, fibRuleHdr(af, 0, 0, 0, 0)), RTM_NEWRULE, op)) {
      if (p.readUInt8(0) !== af) continue;
      const a = parseAttrs(p, 12);
      const rule: RuleSpec & { family: 4 | 6; priority: number } = {
        family,
        priority: attrU32(a, FRA_PRIORITY) ?? 0,
        table: attrU32(a, FRA_TABLE) ?? p.readUInt8(4),
      };
      const src = a.get(FRA_SRC);
      if (src) rule.from = formatCidr(src, p.readUInt8(2));
      const dst = a.get(FRA_DST);
      if (dst) rule.to = formatCidr(dst, p.readUInt8(1));
      const iif = attrStr(a, FRA_IIFNAME);
      if (iif) rule.iif = iif;
      out.push(rule);
    }
    return out;
  }

  private ruleMsg(type: number, flags: number, r: RuleSpec): MsgBuilder {
    const from = r.from !== undefined ? parseCidr(r.from, 'from', true) : undefined;
    const to = r.to !== undefined ? parseCidr(r.to, 'to', true) : undefined;
    const family: Family = r.family ?? from?.family ?? to?.family ?? 4;
    if (r.family !== undefined && r.family !== 4 && r.family !== 6) throw new Error(`family: must be 4 or 6`);
    if (from && from.family !== family) throw new Error(`from: ${r.from} is not IPv${family}`);
    if (to && to.family !== family) throw new Error(`to: ${r.to} is not IPv${family}`);
    checkTable(r.table);
    if (r.table === undefined) throw new Error('table: required');
    checkU32(r.priority, 'priority');
    if (r.iif !== undefined) validateIfName(r.iif, 'iif');
    const msg = new MsgBuilder(type, flags, fibRuleHdr(afOf(family), to?.prefix ?? 0, from?.prefix ?? 0, r.table, FR_ACT_TO_TBL));
    msg.u32(FRA_TABLE, r.table);
    if (r.priority !== undefined) msg.u32(FRA_PRIORITY, r.priority);
    if (from) msg.attr(FRA_SRC, from.addr);
    if (to) msg.attr(FRA_DST, to.addr);
    if (r.iif !== undefined) msg.str(FRA_IIFNAME, r.iif);
    return msg;
  }

  private ruleText(r: RuleSpec): string {
    return `${r.priority !== undefined ? `${r.priority}: ` : ''}from ${r.from ?? 'all'}${r.to ? ` to ${r.to}` : ''}${r.iif ? ` iif ${r.iif}` : ''} lookup ${r.table}${this.where}`;
  }

  addRule(r: RuleSpec): void {
    const op = `adding rule ${this.ruleText(r)}`;
    this.sock.request(this.ruleMsg(RTM_NEWRULE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, r), op);
  }

  /** False when no such rule existed. */
  delRule(r: RuleSpec): boolean {
    const op = `deleting rule ${this.ruleText(r)}`;
    try {
      this.sock.request(this.ruleMsg(RTM_DELRULE, NLM_F_ACK, r), op);
      return true;
    } catch (err) {
      if (err instanceof KernelError && [ENOENT, ESRCH].includes(err.errno)) return false;
      throw err;
    }
  }

  // ---- neighbours ----

  neighs(dev?: string, family?: 4 | 6): NeighInfo[] {
    const op = `listing neighbours${dev ? ` of ${dev}` : ''}${this.where}`;
    const names = this.namesFor(dev, op);
    const fam = family === undefined ? 0 : afOf(family);
    const out: NeighInfo[] = [];
    for (const p of this.sock.dump(() => new MsgBuilder(RTM_GETNEIGH, NLM_F_DUMP, ndmsg(fam, 0, 0)), RTM_NEWNEIGH, op)) {
      const f = p.readUInt8(0);
      if ((f !== AF_INET && f !== AF_INET6) || (fam && f !== fam)) continue;
      const ifindex = p.readInt32LE(4);
      const name = names.get(ifindex);
      if (name === undefined) continue;
      const a: Attrs = parseAttrs(p, 12);
      const dst = a.get(NDA_DST);
      if (!dst) continue;
      const state = p.readUInt16LE(8);
      const n: NeighInfo = { dev: name, ifindex, ip: formatIp(dst), state, permanent: (state & NUD_PERMANENT) !== 0 };
      const ll = a.get(NDA_LLADDR);
      if (ll && ll.length === 6) n.mac = formatMac(ll);
      out.push(n);
    }
    return out;
  }

  addNeigh(n: NeighSpec & { replace?: boolean }): void {
    validateIfName(n.dev, 'dev');
    const ip = parseIp(n.ip, 'ip');
    const mac = n.mac !== undefined ? parseMac(n.mac) : undefined;
    const op = `adding neighbour ${n.ip}${n.mac ? ` lladdr ${n.mac}` : ''} dev ${n.dev}${this.where}`;
    const index = this.indexOf(n.dev, op);
    const state = (n.permanent ?? mac !== undefined) ? NUD_PERMANENT : NUD_REACHABLE;
    const msg = new MsgBuilder(RTM_NEWNEIGH, NLM_F_ACK | NLM_F_CREATE | (n.replace ? NLM_F_REPLACE : NLM_F_EXCL), ndmsg(afOf(ip.family), index, state));
    msg.attr(NDA_DST, ip.addr);
    if (mac) msg.attr(NDA_LLADDR, mac);
    this.sock.request(msg, op);
  }

  /** False when no such entry (or device) existed. */
  delNeigh(n: { dev: string; ip: string }): boolean {
    validateIfName(n.dev, 'dev');
    const ip = parseIp(n.ip, 'ip');
    const op = `deleting neighbour ${n.ip} dev ${n.dev}${this.where}`;
    const l = this.link(n.dev);
    if (!l) return false;
    const msg = new MsgBuilder(RTM_DELNEIGH, NLM_F_ACK, ndmsg(afOf(ip.family), l.index, 0)).attr(NDA_DST, ip.addr);
    try {
      this.sock.request(msg, op);
      return true;
    } catch (err) {
      if (err instanceof KernelError && [ENOENT, ENODEV].includes(err.errno)) return false;
      throw err;
    }
  }
}

function openFd(ns: NetNs, field: string): number {
  if (ns.closed) throw new Error(`${field}: netns handle ${ns.path} is closed`);
  return ns.fd;
}
