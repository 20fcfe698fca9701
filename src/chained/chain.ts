// What both plugins do around their kernel work: require a prevResult, open the pod's netns,
// run their plumbing inside one rollback frame, and report their interfaces in the result.
import { CniError, ErrorCode, emptyResult, type CniInterface, type CniResult, type PluginContext } from '../cni';
import { Rtnl } from '../kernel';
import { MetaCode } from './codes';
import type { MetaConf } from './config';
import { probeConflicts } from './ip-conflict';
import type { Logger } from './log';
import { rewriteMac } from './mac-rewrite';
import type { NicIp } from './nic-ips';
import { openPod, type Pod } from './pod';
import { Undo } from './undo';

export function requirePrevResult(ctx: PluginContext, plugin: string): CniResult {
  const prev = ctx.conf.prevResult;
  if (!prev) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `${plugin} must be chained`,
      `prevResult is missing: ${plugin} is a chained plugin and must follow a main plugin (e.g. macvlan) in a conflist`);
  }
  return prev;
}

/** With `skip_call` set an ADD changes nothing and hands prevResult on (undefined: go ahead). */
export function skippedAdd(ctx: PluginContext, skipCall: boolean, log: Logger): CniResult | undefined {
  if (!skipCall) return undefined;
  log.info('skip_call is set: passing prevResult through');
  return ctx.conf.prevResult ?? emptyResult(ctx.conf.cniVersion);
}

/** prevResult with `extra` interfaces appended (existing ones with the same name and sandbox are updated). */
export function withInterfaces(prev: CniResult, extra: readonly CniInterface[]): CniResult {
  const interfaces = prev.interfaces.map((i) => ({ ...i }));
  for (const x of extra) {
    const at = interfaces.findIndex((i) => i.name === x.name && (i.sandbox ?? '') === (x.sandbox ?? ''));
    if (at >= 0) interfaces[at] = { ...interfaces[at], ...x };
    else interfaces.push({ ...x });
  }
  return { ...prev, interfaces };
}

/** Maps a failure during ADD to the plugin's plumbing error (CniErrors pass through). */
export function plumbingError(e: unknown, plugin: string): CniError {
  if (e instanceof CniError) return e;
  // KernelError messages already read "<op>: <ERRNO> (<text>)".
  return new CniError(MetaCode.Plumbing, `${plugin}: ADD failed and was rolled back`, e instanceof Error ? e.message : String(e));
}

/**
 * The common frame of a meta plugin's ADD once the NIC's IPs are known: the optional IP-conflict
 * probe and MAC rewrite, then the plugin's own plumbing (skipped with only_op_mac). Everything
 * recorded in the Undo is reversed if any step fails, so a failed ADD leaves the kernel as it was.
 */
export async function addWithRollback(
  a: { conf: MetaConf; plugin: string; netns: string; ifname: string; ips: NicIp[]; prev: CniResult; log: Logger },
  plumb: (pod: Pod, host: Rtnl, result: CniResult, undo: Undo) => CniResult,
): Promise<CniResult> {
  const pod = openPod(a.netns);
  const host = Rtnl.open();
  const undo = new Undo();
  try {
    if (a.conf.ipConflict?.enabled) await probeConflicts(pod, a.ifname, a.ips, a.conf.ipConflict, a.log);
    let result = a.prev;
    if (a.conf.macPrefix !== undefined) result = rewriteMac(pod, a.ifname, a.ips, a.conf.macPrefix, a.netns, result, undo, a.log);
    if (!a.conf.onlyOpMac) result = plumb(pod, host, result, undo);
    undo.commit();
    a.log.info('ADD done');
    return result;
  } catch (e) {
    a.log.error(`ADD failed, rolling back: ${e instanceof Error ? e.message : String(e)}`);
    undo.run(a.log);
    throw plumbingError(e, a.plugin);
  } finally {
    host.close();
    pod.close();
  }
}
