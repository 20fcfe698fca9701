// Default-route placement for multi-NIC pods (migrate_route). A NIC whose default route is
// "migrated" keeps it in its own table (see tables.ts), reached through `from <its IP>` rules,
// so replies leave through the NIC the request came in on; the main table keeps one default.
//   1  always migrate the NIC's default route
//   0  never touch default routes
//  -1  auto: migrate when another NIC that sorts before this one (eth0 < net1 < net9 < net10)
//      holds the main default route; otherwise this NIC keeps (or takes) main.
import type { Rtnl, RouteInfo } from '../kernel';
import { defaultDst, isDefaultDst, type Family } from './cidr';
import type { MigrateRoute } from './config';
import { ensureRoute, moveRoute, type Route } from './netops';
import { compareNicNames, MAIN_TABLE } from './tables';
import type { Undo } from './undo';

export function mainDefaults(rt: Rtnl, family: Family): RouteInfo[] {
  return rt.routes({ family, table: MAIN_TABLE }).filter((r) => isDefaultDst(r.dst) && r.dev !== undefined);
}

/** Whether `nic`'s default route belongs in its own table. `ignore`: NICs not competing for main (router's overlay). */
export function shouldMigrate(mode: MigrateRoute, rt: Rtnl, nic: string, family: Family, ignore: readonly string[] = []): boolean {
  if (mode === 1) return true;
  if (mode === 0) return false;
  return mainDefaults(rt, family).some((r) => r.dev !== nic && !ignore.includes(r.dev!) && compareNicNames(r.dev!, nic) < 0);
}

/** The default route `nic` should have: the one the main plugin installed, else via its gateway. */
export function nicDefault(rt: Rtnl, nic: string, family: Family, gateway: string | undefined, table: number): Route | undefined {
  const installed = mainDefaults(rt, family).find((r) => r.dev === nic) ??
    rt.routes({ family, table }).find((r) => isDefaultDst(r.dst) && r.dev === nic);
  const gw = installed ? installed.gw : gateway;
  if (installed === undefined && gw === undefined) return undefined;
  const r: Route = { dst: defaultDst(family), dev: nic, table };
  if (gw !== undefined) r.gw = gw;
  return r;
}

/** Puts `nic`'s default route into `table` and removes it from main. */
export function migrateDefault(rt: Rtnl, nic: string, family: Family, gateway: string | undefined, table: number, undo: Undo): Route | undefined {
  const want = nicDefault(rt, nic, family, gateway, table);
  if (!want) return undefined;
  ensureRoute(rt, want, undo);
  for (const r of mainDefaults(rt, family).filter((x) => x.dev === nic)) moveRoute(rt, r, table, undo);
  return want;
}

/** Moves every main default route through `nic` into `table` (router: the overlay NIC's). */
export function moveDefaultsOut(rt: Rtnl, nic: string, family: Family, table: number, undo: Undo): void {
  for (const r of mainDefaults(rt, family).filter((x) => x.dev === nic)) moveRoute(rt, r, table, undo);
}

/** Differences from a migrated default, for CHECK. */
export function checkMigrated(rt: Rtnl, nic: string, family: Family, table: number): string[] {
  const problems: string[] = [];
  if (!rt.routes({ family, table }).some((r) => isDefaultDst(r.dst) && r.dev === nic)) {
    problems.push(`no IPv${family} default route via ${nic} in table ${table}`);
  }
  if (mainDefaults(rt, family).some((r) => r.dev === nic)) problems.push(`IPv${family} default route via ${nic} is still in the main table`);
  return problems;
}

/** Makes `nic` hold the main default route of `family` (via its gateway when the main plugin installed none). */
export function ensureMainDefault(rt: Rtnl, nic: string, family: Family, gateway: string | undefined, undo: Undo): boolean {
  if (mainDefaults(rt, family).some((r) => r.dev === nic)) return true;
  if (gateway === undefined) return false;
  ensureRoute(rt, { dst: defaultDst(family), gw: gateway, dev: nic, table: MAIN_TABLE }, undo);
  return true;
}
