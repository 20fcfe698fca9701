// rtnetlink routes: list (unicast, by table), add, replace, delete.
// The handle is one class built family by family (links, addresses, routes, rules, neighbours:
// each file adds one to the one before); index.ts is the Rtnl everyone uses.
import { KernelError } from '../errors';
import { MsgBuilder, parseAttrs, attrU32, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE } from '../netlink';
import { AF_INET, AF_INET6, afOf, formatCidr, formatIp, parseIp, validateIfName, type Family } from '../ip';
import {
  ENODEV, ENOENT, ESRCH, RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE, RTM_DELROUTE,
  RTM_F_CLONED, RTM_GETROUTE, RTM_NEWROUTE, RTN_UNICAST, RTPROT_BOOT, RT_SCOPE_HOST, RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, SCOPES, checkTable, checkU32, parseDst, rtmsg,
} from './messages';
import type { RouteSpec, RouteInfo } from './types';
import { RtnlAddresses } from './addresses';

export class RtnlRoutes extends RtnlAddresses {

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

  protected routeMsg(type: number, flags: number, r: RouteSpec, op: string): MsgBuilder | undefined {
    // A delete matches on what it names; an add fills in the kernel's defaults.
    const forDelete = type === RTM_DELROUTE;
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

  protected routeText(r: RouteSpec): string {
    return `${r.dst}${r.gw ? ` via ${r.gw}` : ''}${r.dev ? ` dev ${r.dev}` : ''}${r.table ? ` table ${r.table}` : ''}${this.where}`;
  }

  addRoute(r: RouteSpec & { replace?: boolean }): void {
    const op = `adding route ${this.routeText(r)}`;
    const msg = this.routeMsg(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | (r.replace ? NLM_F_REPLACE : NLM_F_EXCL), r, op)!;
    this.sock.request(msg, op);
  }

  /** False when no such route (or its device) existed. */
  delRoute(r: RouteSpec): boolean {
    const op = `deleting route ${this.routeText(r)}`;
    const msg = this.routeMsg(RTM_DELROUTE, NLM_F_ACK, r, op);
    if (!msg) return false;
    try {
      this.sock.request(msg, op);
      return true;
    } catch (err) {
      if (err instanceof KernelError && [ESRCH, ENOENT, ENODEV].includes(err.errno)) return false;
      throw err;
    }
  }
}
