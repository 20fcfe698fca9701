// meshnetd's command line: parse the flags, start the daemon (daemon.ts), stop it on SIGTERM or
// SIGINT. `--cni-uninstall` takes meshnet out of the node's CNI config and exits.
import { versionLine } from '../build';
import { createLogger } from '../log';
import { CniInstaller } from './cni-installer';
import { ConfigError, USAGE, parseDaemonConfig, type DaemonConfig } from './config';
import { startCpuProfile } from './cpu-profile';
import { DaemonStartError, startDaemon } from './daemon';
import { shimPath } from './startup';

/** `meshnetd --cni-uninstall`: meshnet out of the node's CNI config, by hand. */
function uninstallOnly(cfg: DaemonConfig): number {
  const log = createLogger({ format: cfg.logFormat, level: cfg.logLevel, fields: { component: 'cni-installer', node: cfg.nodeName } });
  new CniInstaller({ confDir: cfg.cniConfDir, binDir: cfg.cniBinDir, shim: shimPath(), interNodeLinkType: cfg.interNodeLinkType, resyncMs: 10_000, log }).uninstall();
  log.info(`meshnet removed from ${cfg.cniConfDir}`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let cfg: DaemonConfig | 'version' | undefined;
  try {
    cfg = parseDaemonConfig(argv, process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`meshnetd: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (!cfg) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (cfg === 'version') {
    process.stdout.write(`${versionLine('meshnetd')}\n`);
    return 0;
  }
  if (cfg.cniUninstall) return uninstallOnly(cfg);
  // From the start: a rollout may stop a daemon that is still starting (as PID 1 of its container,
  // without a handler it would die by the signal, exit code 143, skipping its shutdown).
  const stopSignal = new Promise<string>((resolveStop) => {
    process.once('SIGTERM', () => resolveStop('SIGTERM'));
    process.once('SIGINT', () => resolveStop('SIGINT'));
  });
  const log = createLogger({ format: cfg.logFormat, level: cfg.logLevel, fields: { component: 'meshnetd', node: cfg.nodeName } });
  const profiler = process.env.MESHNETD_CPU_PROFILE ? startCpuProfile(process.env.MESHNETD_CPU_PROFILE, cfg.nodeName) : undefined;
  let daemon;
  try {
    daemon = await startDaemon(cfg, log);
  } catch (e) {
    if (!(e instanceof DaemonStartError)) throw e;
    if (e.exitCode === 2) process.stderr.write(`meshnetd: ${e.message}\n`);
    else log.error(e.message);
    return e.exitCode;
  }
  log.info(`${await stopSignal}: shutting down`);
  await daemon.close();
  if (profiler) log.info(`CPU profile written to ${await profiler.stop()}`);
  return 0;
}
