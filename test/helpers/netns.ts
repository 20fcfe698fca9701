/**
 * Throw-away network namespaces for kernel tests. Names are unique per run
 * (`<prefix>-<pid>-<random>`); cleanup() is idempotent and never throws.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createNamedNetns, deleteNamedNetns, NetNs, Rtnl, type LinkInfo } from '../../src/kernel/index';

export interface TempNetns {
  name: string;
  ns: NetNs;
  /** An Rtnl bound to this netns, opened lazily and closed by cleanup(). */
  rtnl(): Rtnl;
  cleanup(): void;
}

const live = new Set<TempNetns>();

export function uniqueName(prefix = 'kt'): string {
  return `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** A short unique interface name (<= 15 bytes) for links that must not collide in the root netns. */
export function uniqueIfName(prefix = 'k'): string {
  return `${prefix.slice(0, 7)}${randomBytes(4).toString('hex')}`;
}

export function tempNetns(prefix = 'kt'): TempNetns {
  const name = uniqueName(prefix);
  createNamedNetns(name);
  let ns: NetNs;
  try {
    ns = NetNs.open(name);
  } catch (err) {
    deleteNamedNetns(name);
    throw err;
  }
  let r: Rtnl | undefined;
  const t: TempNetns = {
    name,
    ns,
    rtnl: () => (r ??= Rtnl.open(ns)),
    cleanup: () => {
      if (!live.delete(t)) return;
      try { r?.close(); } catch { /* ignore */ }
      try { ns.close(); } catch { /* ignore */ }
      try { deleteNamedNetns(name); } catch { /* ignore */ }
    },
  };
  live.add(t);
  return t;
}

/** An interface of a netns (its name, or a path such as /var/run/netns/x) as rtnetlink reports it, or undefined. */
export function linkIn(netns: string, intf: string): LinkInfo | undefined {
  const ns = NetNs.open(netns);
  const r = Rtnl.open(ns);
  try {
    return r.link(intf);
  } finally {
    r.close();
    ns.close();
  }
}

/**
 * Every interface of a netns with its IPv4 addresses, as one consistent read: one link dump and
 * one address dump keyed by ifindex (asking each link's addresses by name fails with ENODEV when a
 * daemon removes the link in between: issue 21).
 */
export function linksWithAddrs(netns: string): Array<LinkInfo & { addrs: string[] }> {
  const ns = NetNs.open(netns);
  const r = Rtnl.open(ns);
  try {
    const links = r.links();
    const addrs = r.addrs().filter((a) => a.family === 4);
    return links.map((l) => ({ ...l, addrs: addrs.filter((a) => a.ifindex === l.index).map((a) => a.cidr) }));
  } finally {
    r.close();
    ns.close();
  }
}

/** Remove every temp netns still alive (use in a top-level after()). */
export function cleanupAllNetns(): void {
  for (const t of [...live]) t.cleanup();
}

/** Run a command (tests only: cross-checks with ip/ping); returns stdout. */
export function sh(cmd: string, args: string[], opts: { allowFail?: boolean } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if (opts.allowFail) return '';
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/** True when `cmd` exits 0. */
export function succeeds(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function hasCommand(cmd: string): boolean {
  return succeeds('sh', ['-c', `command -v ${cmd}`]);
}

/** One ping from the named netns `ns` to `ip`, waiting up to 2 s: whether it was answered. */
export function pingsFrom(ns: string, ip: string): boolean {
  return spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', ip], { stdio: 'ignore' }).status === 0;
}
