// rtnetlink links: create (veth, VXLAN, macvlan, bridge), read, change, delete; device groups.
// The handle is one class built family by family (links, addresses, routes, rules, neighbours:
// each file adds one to the one before); index.ts is the Rtnl everyone uses.
import { KernelError } from '../errors';
import type { NetNs } from '../netns';
import {
  MsgBuilder, NetlinkSocket, parseAttrs, attrStr, attrU32, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
  type Attrs,
} from '../netlink';
import { formatIp, formatMac, parseIp, parseMac, validateIfName } from '../ip';
import {
  ENODEV, IFF_LOWER_UP, IFF_UP, IFLA_ADDRESS, IFLA_EXT_MASK, IFLA_GROUP, IFLA_IFNAME, IFLA_INFO_DATA,
  IFLA_INFO_KIND, IFLA_LINK, IFLA_LINKINFO, IFLA_LINK_NETNSID, IFLA_MACVLAN_MODE, IFLA_MASTER, IFLA_MTU,
  IFLA_NET_NS_FD, IFLA_OPERSTATE, IFLA_STATS64, IFLA_VXLAN_GROUP, IFLA_VXLAN_GROUP6, IFLA_VXLAN_ID,
  IFLA_VXLAN_LEARNING, IFLA_VXLAN_LINK, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LOCAL6, IFLA_VXLAN_PORT, MACVLAN_MODES,
  OPERSTATES, RTEXT_FILTER_SKIP_STATS, RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK, VETH_INFO_PEER, checkGroup,
  checkMtu, ifinfomsg, openFd,
} from './messages';
import type { LinkInfo, LinkStats, VxlanInfo, VethSpec, VxlanSpec, MacvlanSpec } from './types';

export class RtnlLinks {
  protected readonly sock: NetlinkSocket;
  /** ' in netns /var/run/netns/x' or '' (current netns), appended to op texts. */
  protected readonly where: string;

  protected constructor(sock: NetlinkSocket, where: string) {
    this.sock = sock;
    this.where = where;
  }

  close(): void {
    this.sock.close();
  }


  /** Hot path (dumps of thousands of links): walk the attributes once, touch only the ones we report. */
  protected static parseLink(p: Buffer): LinkInfo {
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
          if (kind === 'vxlan' && data) info.vxlan = RtnlLinks.parseVxlan(parseAttrs(data));
          break;
        }
      }
      off += (len + 3) & ~3;
    }
    return info;
  }

  protected static parseVxlan(a: Attrs): VxlanInfo {
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
      .map(RtnlLinks.parseLink);
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
    return p ? RtnlLinks.parseLink(p) : undefined;
  }

  linkByIndex(index: number): LinkInfo | undefined {
    if (!(Number.isInteger(index) && index > 0)) throw new Error(`index: invalid ifindex ${index}`);
    const msg = new MsgBuilder(RTM_GETLINK, 0, ifinfomsg(index)).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    const p = this.sock.get(msg, RTM_NEWLINK, `looking up link #${index}${this.where}`, [ENODEV]);
    return p ? RtnlLinks.parseLink(p) : undefined;
  }

  /** ifindex of name, or KernelError ENODEV naming op. */
  protected indexOf(name: string, op: string): number {
    const l = this.link(name);
    if (!l) throw new KernelError(op, ENODEV);
    return l.index;
  }

  protected newLink(name: string, kind: string, op: string, opts: {
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
  protected setLink(name: string, op: string, fill: (b: MsgBuilder) => void, flags = 0, change = 0): void {
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
  protected namesFor(dev: string | undefined, op: string): Map<number, string> {
    if (dev === undefined) return this.linkNames();
    validateIfName(dev, 'dev');
    const l = this.link(dev);
    if (!l) throw new KernelError(op, ENODEV);
    return new Map([[l.index, l.name]]);
  }

  protected linkNames(): Map<number, string> {
    return new Map(this.links().map((l) => [l.index, l.name]));
  }
}
