// rtnetlink addresses: list (a link and its addresses as one read), add, delete.
// The handle is one class built family by family (links, addresses, routes, rules, neighbours:
// each file adds one to the one before); index.ts is the Rtnl everyone uses.
import { KernelError } from '../errors';
import { MsgBuilder, parseAttrs, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE } from '../netlink';
import { AF_INET, AF_INET6, afOf, formatCidr, parseCidr, validateIfName } from '../ip';
import {
  EADDRNOTAVAIL, ENODEV, ENOENT, IFA_ADDRESS, IFA_F_NODAD, IFA_LOCAL, RTM_DELADDR, RTM_GETADDR, RTM_NEWADDR,
  RT_SCOPE_HOST, RT_SCOPE_UNIVERSE, ifaddrmsg,
} from './messages';
import type { LinkInfo, AddrInfo } from './types';
import { RtnlLinks } from './links';

export class RtnlAddresses extends RtnlLinks {

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
  protected addrDump(op: string): AddrInfo[] {
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
}
