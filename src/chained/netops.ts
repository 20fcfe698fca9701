// Idempotent kernel changes with rollback records. Each ensure* looks first: an object that is
// already as wanted is left alone (a repeated ADD adds nothing twice and a rollback never removes
// what another plugin made); a differing one is replaced and the old one restored on rollback.
import type { Rtnl, RouteInfo, RouteSpec, RuleSpec } from '../kernel';
import { canonicalIp, defaultDst, familyOf, isDefaultDst, type Family } from './cidr';
import { MAIN_TABLE } from './tables';
import type { Undo } from './undo';

export interface Route {
  dst: string;
  dev: string;
  gw?: string;
  table: number;
  scope?: 'universe' | 'link' | 'host';
  src?: string;
  metric?: number;
}

function dstFamily(dst: string, gw?: string): Family {
  if (dst === 'default') return gw !== undefined ? familyOf(gw) : 4;
  if (dst === 'default6' || dst === '::/0') return 6;
  return familyOf(dst.split('/')[0] ?? dst);
}

function sameDst(a: string, b: string, family: Family): boolean {
  if (isDefaultDst(a) || isDefaultDst(b)) return isDefaultDst(a) && isDefaultDst(b);
  return a === b || (family === 4 && (a === `${b}/32` || b === `${a}/32`)) || (family === 6 && (a === `${b}/128` || b === `${a}/128`));
}

/** Routes of `table` towards `dst` (and through `dev`, when given). */
export function findRoutes(rt: Rtnl, dst: string, table: number, family: Family, dev?: string): RouteInfo[] {
  return rt.routes({ family, table }).filter((r) => sameDst(r.dst, dst, family) && (dev === undefined || r.dev === dev));
}

function toSpec(r: Route): RouteSpec {
  const s: RouteSpec = { dst: r.dst, dev: r.dev, table: r.table };
  if (r.gw !== undefined) s.gw = r.gw;
  if (r.scope !== undefined) s.scope = r.scope;
  if (r.src !== undefined) s.src = r.src;
  if (r.metric !== undefined) s.metric = r.metric;
  return s;
}

function infoToSpec(r: RouteInfo): RouteSpec {
  const s: RouteSpec = { dst: r.dst, table: r.table };
  if (r.dev !== undefined) s.dev = r.dev;
  if (r.gw !== undefined) s.gw = r.gw;
  if (r.scope !== undefined) s.scope = r.scope;
  if (r.src !== undefined) s.src = r.src;
  if (r.metric !== undefined) s.metric = r.metric;
  return s;
}

export function routeMatches(have: RouteInfo, want: Route): boolean {
  return have.dev === want.dev && (have.gw ?? '') === (want.gw ?? '') && (want.src === undefined || have.src === want.src);
}

export function describeRoute(r: Route): string {
  return `${r.dst}${r.gw ? ` via ${r.gw}` : ''} dev ${r.dev}${r.src ? ` src ${r.src}` : ''}${r.table === MAIN_TABLE ? '' : ` table ${r.table}`}`;
}

/** Makes `r` present. Another route to the same dst in the same table (same metric) is replaced. */
export function ensureRoute(rt: Rtnl, r: Route, undo: Undo): void {
  const family = dstFamily(r.dst, r.gw);
  const same = findRoutes(rt, r.dst, r.table, family).filter((h) => (h.metric ?? 0) === (r.metric ?? 0) || family === 6);
  if (same.some((h) => routeMatches(h, r))) return;
  const replaced = same[0];
  rt.addRoute({ ...toSpec(r), replace: true });
  if (replaced) {
    undo.push(`restore route ${replaced.dst} in table ${replaced.table}`, () => rt.addRoute({ ...infoToSpec(replaced), replace: true }));
    // IPv6 replace only matches an equal metric; drop a leftover so one route remains.
    if (family === 6 && (replaced.metric ?? 0) !== (r.metric ?? 1024)) {
      try { rt.delRoute(infoToSpec(replaced)); } catch { /* already replaced */ }
    }
  } else {
    undo.push(`delete route ${describeRoute(r)}`, () => rt.delRoute(toSpec(r)));
  }
}

/** Deletes `have` (a route the kernel reported), restoring it on rollback. */
export function removeRoute(rt: Rtnl, have: RouteInfo, undo: Undo): void {
  if (rt.delRoute(infoToSpec(have))) {
    undo.push(`re-add route ${have.dst} dev ${have.dev ?? '?'} table ${have.table}`, () => rt.addRoute({ ...infoToSpec(have), replace: true }));
  }
}

/** Moves `have` into `table` (added there first, so there is no window without a route). */
export function moveRoute(rt: Rtnl, have: RouteInfo, table: number, undo: Undo): void {
  const r: Route = { dst: have.dst === 'default' || have.dst === '::/0' ? defaultDst(have.family) : have.dst, dev: have.dev ?? '', table };
  if (have.gw !== undefined) r.gw = have.gw;
  if (have.scope !== undefined && have.scope !== 'universe') r.scope = have.scope;
  if (have.src !== undefined) r.src = have.src;
  ensureRoute(rt, r, undo);
  removeRoute(rt, have, undo);
}

export interface Rule {
  family: Family;
  priority: number;
  table: number;
  from?: string;
  to?: string;
}

export function ruleMatches(have: RuleSpec, want: Rule): boolean {
  return have.table === want.table && (have.from ?? '') === (want.from ?? '') && (have.to ?? '') === (want.to ?? '') && have.iif === undefined;
}

export function describeRule(r: Rule): string {
  return `${r.priority}: from ${r.from ?? 'all'}${r.to ? ` to ${r.to}` : ''} lookup ${r.table}`;
}

export function hasRule(rt: Rtnl, r: Rule): boolean {
  return rt.rules(r.family).some((h) => ruleMatches(h, r));
}

/** Adds the rule unless an equal one (any priority) exists: `ip rule add` alone would duplicate it. */
export function ensureRule(rt: Rtnl, r: Rule, undo: Undo): void {
  if (hasRule(rt, r)) return;
  const spec: RuleSpec = { family: r.family, priority: r.priority, table: r.table };
  if (r.from !== undefined) spec.from = r.from;
  if (r.to !== undefined) spec.to = r.to;
  rt.addRule(spec);
  undo.push(`delete rule ${describeRule(r)}`, () => rt.delRule(spec));
}

/** Deletes every rule equal to `r` (any priority); true when one existed. */
export function removeRule(rt: Rtnl, r: Rule): boolean {
  let removed = false;
  for (const h of rt.rules(r.family).filter((x) => ruleMatches(x, r))) {
    const spec: RuleSpec = { family: r.family, priority: h.priority, table: h.table };
    if (h.from !== undefined) spec.from = h.from;
    if (h.to !== undefined) spec.to = h.to;
    removed = rt.delRule(spec) || removed;
  }
  return removed;
}

/** A permanent neighbour entry ip → mac on dev. */
export function ensureNeigh(rt: Rtnl, dev: string, ip: string, mac: string, undo: Undo): void {
  const want = canonicalIp(ip);
  const have = rt.neighs(dev, familyOf(want)).find((n) => n.ip === want);
  if (have && have.permanent && have.mac === mac.toLowerCase()) return;
  rt.addNeigh({ dev, ip: want, mac, permanent: true, replace: true });
  undo.push(`delete neighbour ${want} dev ${dev}`, () => rt.delNeigh({ dev, ip: want }));
}

export function hasNeigh(rt: Rtnl, dev: string, ip: string, mac: string): boolean {
  const want = canonicalIp(ip);
  return rt.neighs(dev, familyOf(want)).some((n) => n.ip === want && n.permanent && n.mac === mac.toLowerCase());
}

/** `nic`'s non-default main-table routes, re-targeted at `table` (link-local IPv6 skipped). */
export function nicRoutesFor(rt: Rtnl, nic: string, table: number): Route[] {
  const out: Route[] = [];
  for (const r of rt.routes({ table: MAIN_TABLE })) {
    if (r.dev !== nic || isDefaultDst(r.dst) || r.dst.startsWith('fe80:')) continue;
    const c: Route = { dst: r.dst, dev: nic, table };
    if (r.gw !== undefined) c.gw = r.gw;
    if (r.family === 4 && r.scope !== undefined && r.scope !== 'universe') c.scope = r.scope;
    if (r.src !== undefined) c.src = r.src;
    out.push(c);
  }
  return out;
}
