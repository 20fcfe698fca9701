// rtnetlink neighbours (ARP/NDP entries): list, add, replace, delete.
// The handle is one class built family by family (links, addresses, routes, rules, neighbours:
// each file adds one to the one before); index.ts is the Rtnl everyone uses.
import { KernelError } from '../errors';
import { MsgBuilder, parseAttrs, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, type Attrs } from '../netlink';
import { AF_INET, AF_INET6, afOf, formatIp, formatMac, parseIp, parseMac, validateIfName } from '../ip';
import {
  ENODEV, ENOENT, NDA_DST, NDA_LLADDR, NUD_PERMANENT, NUD_REACHABLE, RTM_DELNEIGH, RTM_GETNEIGH,
  RTM_NEWNEIGH, ndmsg,
} from './messages';
import type { NeighSpec, NeighInfo } from './types';
import { RtnlRules } from './rules';

export class RtnlNeighbours extends RtnlRules {

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
