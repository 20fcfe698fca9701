// The host rule `from all lookup host_rule_table` is shared by every pod on the node: it is added
// by the first pod that needs it and removed by the DEL that leaves its table empty. A file lock
// serialises these read-modify-write steps across concurrent plugin runs.
import { lockFile, type Rtnl } from '../../kernel';
import { ensureRoute, ensureRule, removeRule, type Route, type Rule } from '../../chained/netops';
import type { Undo } from '../../chained/undo';

export const HOST_LOCK = '/run/meta-plugins-router.lock';

export function withHostLock<T>(fn: () => T): T {
  const lock = lockFile(HOST_LOCK);
  try {
    return fn();
  } finally {
    lock.release();
  }
}

export function ensureHostPath(host: Rtnl, rules: readonly Rule[], routes: readonly Route[], undo: Undo): void {
  withHostLock(() => {
    for (const r of routes) ensureRoute(host, r, undo);
    for (const r of rules) ensureRule(host, r, undo);
  });
}

/** Removes the pod's routes from the host table, then the shared rule when the table is empty. */
export function removeHostPath(host: Rtnl, table: number, podIpCidrs: readonly string[], rulePriority: number): string[] {
  return withHostLock(() => {
    const done: string[] = [];
    for (const family of [4, 6] as const) {
      for (const r of host.routes({ family, table }).filter((x) => podIpCidrs.includes(x.dst))) {
        if (host.delRoute(r)) done.push(`route ${r.dst} table ${table}`);
      }
      if (host.routes({ family, table }).length === 0 && removeRule(host, { family, priority: rulePriority, table })) {
        done.push(`IPv${family} rule from all lookup ${table}`);
      }
    }
    return done;
  });
}
