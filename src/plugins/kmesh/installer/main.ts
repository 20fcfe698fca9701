// kmesh-installer's command line: flags, signals, the long-running loop. See ../README.md.
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Installer, type InstallerOptions } from './installer';
import { serverFromEnv } from './kubeconfig-writer';
import { loggerFromEnv } from '../../../log';
import { versionLine } from '../../../build';
import { UsageError } from '../../../errors';

const USAGE = `usage: kmesh-installer [flags]
  --cni-conf-dir DIR          CNI config directory (default /etc/cni/net.d)
  --cni-bin-dir DIR           CNI plugin directory (default /opt/cni/bin)
  --cni-conf-name NAME        use this file in the config directory instead of choosing one
  --plugin-binary PATH        kmesh-cni binary to install (default: cni/kmesh-cni next to this program)
  --service-account-dir DIR   token + ca.crt (default /var/run/secrets/kubernetes.io/serviceaccount)
  --plugin-config JSON        extra keys for the kmesh-cni entry, e.g. '{"netClsRoot":"/sys/fs/cgroup/net_cls"}'
  --resync-interval-ms N      periodic resync besides the watches (default 10000)
  --uninstall                 remove the entry, kubeconfig and binary (e.g. after a SIGKILL) and exit
  --version                   print the version and exit
The API server comes from KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT. Logs: logfmt on stderr
(LOG_FORMAT=json for JSON lines, LOG_LEVEL=debug|info|warn|error).`;

export function parseArgs(argv: string[], env: Record<string, string | undefined>, self: string): { opts: Omit<InstallerOptions, 'log'>; uninstall: boolean } {
  const flags: Record<string, string> = {};
  let uninstall = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--uninstall') { uninstall = true; continue; }
    if (a === '--help' || a === '-h') throw new UsageError(USAGE);
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new UsageError(`unexpected argument ${JSON.stringify(a)}\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`${a} needs a value\n${USAGE}`);
    flags[m[1]!] = value;
  }
  const known = ['cni-conf-dir', 'cni-bin-dir', 'cni-conf-name', 'plugin-binary', 'service-account-dir', 'plugin-config', 'resync-interval-ms'];
  for (const k of Object.keys(flags)) if (!known.includes(k)) throw new UsageError(`unknown flag --${k}\n${USAGE}`);
  const dir = (k: string, d: string): string => resolve(flags[k] ?? d);
  let entryExtra: Record<string, unknown> = {};
  if (flags['plugin-config'] !== undefined) {
    let v: unknown;
    try { v = JSON.parse(flags['plugin-config']); } catch (e) { throw new UsageError(`--plugin-config: ${(e as Error).message}`); }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError('--plugin-config must be a JSON object');
    entryExtra = Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'type' && k !== 'kubeConfig'));
  }
  const resyncMs = Number(flags['resync-interval-ms'] ?? 10_000);
  if (!Number.isInteger(resyncMs) || resyncMs < 100) throw new UsageError('--resync-interval-ms must be an integer >= 100');
  const confName = flags['cni-conf-name'];
  if (confName !== undefined && (confName.includes('/') || isAbsolute(confName))) throw new UsageError('--cni-conf-name is a file name in --cni-conf-dir');
  let server = '';
  if (!uninstall) {
    try { server = serverFromEnv(env); } catch (e) { throw new UsageError((e as Error).message); }
  }
  const opts: Omit<InstallerOptions, 'log'> = {
    confDir: dir('cni-conf-dir', '/etc/cni/net.d'),
    binDir: dir('cni-bin-dir', '/opt/cni/bin'),
    pluginBinary: dir('plugin-binary', join(dirname(self), 'cni', 'kmesh-cni')),
    serviceAccountDir: dir('service-account-dir', '/var/run/secrets/kubernetes.io/serviceaccount'),
    server, entryExtra, resyncMs,
  };
  if (confName !== undefined) opts.confName = confName;
  return { opts, uninstall };
}


export function main(): void {
  const log = loggerFromEnv(process.env, { component: 'kmesh-installer' });
  if (process.argv[2] === '--version') {
    process.stdout.write(`${versionLine('kmesh-installer')}\n`);
    return;
  }
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2), process.env, process.argv[1] ?? process.execPath);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const inst = new Installer({ ...parsed.opts, log });
  if (parsed.uninstall) {
    inst.uninstall();
    return;
  }
  let exiting = false;
  const shutdown = (sig: string): void => {
    if (exiting) return;
    exiting = true;
    log.info(`${sig}: removing kmesh-cni`);
    try {
      inst.uninstall();
    } catch (e) {
      log.error(`uninstall failed: ${(e as Error).message}`);
      process.exit(1);
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    inst.start();
  } catch (e) {
    log.error(`cannot install: ${(e as Error).message}`);
    try { inst.uninstall(); } catch { /* best effort: leave nothing half-installed */ }
    process.exit(1);
  }
  log.info(`running; watching ${parsed.opts.confDir}`);
}
