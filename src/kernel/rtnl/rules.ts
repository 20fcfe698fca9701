// rtnetlink policy rules: list, add, delete.
// The handle is one class built family by family (links, addresses, routes, rules, neighbours:
// each file adds one to the one before); index.ts is the Rtnl everyone uses.
import { KernelError } from '../errors';
import { MsgBuilder, parseAttrs, attrStr, attrU32, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL } from '../netlink';
import { afOf, formatCidr, parseCidr, validateIfName, type Family } from '../ip';
import {
  ENOENT, ESRCH, FRA_DST, FRA_IIFNAME, FRA_PRIORITY, FRA_SRC, FRA_TABLE, FR_ACT_TO_TBL, RTM_DELRULE,
  RTM_GETRULE, RTM_NEWRULE, checkTable, checkU32, fibRuleHdr,
} from './messages';
import type { RuleSpec } from './types';
import { RtnlRoutes } from './routes';

export class RtnlRules extends RtnlRoutes {

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

  protected ruleMsg(type: number, flags: number, r: RuleSpec): MsgBuilder {
    const from = r.from !== undefined ? parseCidr(r.from, 'from', { allowBare: true }) : undefined;
    const to = r.to !== undefined ? parseCidr(r.to, 'to', { allowBare: true }) : undefined;
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

  protected ruleText(r: RuleSpec): string {
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
}
