// What both plugins do around their kernel work: require a prevResult, open the pod's netns,
// and report their interfaces in the result they pass through.
import { existsSync } from 'node:fs';
import { CniError, ErrorCode, type CniInterface, type CniResult, type PluginContext } from '../../cni';
import { NetNs, Rtnl } from '../../kernel';
import { MetaCode } from './codes';

export function requirePrevResult(ctx: PluginContext, plugin: string): CniResult {
  const prev = ctx.conf.prevResult;
  if (!prev) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `${plugin} must be chained`,
      `prevResult is missing: ${plugin} is a chained plugin and must follow a main plugin (e.g. macvlan) in a conflist`);
  }
  return prev;
}

/** The pod's netns and an rtnetlink socket in it; close() releases both. */
export interface Pod {
  ns: NetNs;
  rt: Rtnl;
  close(): void;
}

export function openPod(netns: string): Pod {
  let ns: NetNs;
  try {
    ns = NetNs.open(netns);
  } catch (e) {
    throw new CniError(ErrorCode.UnknownContainer, 'cannot open the pod network namespace',
      `CNI_NETNS ${JSON.stringify(netns)}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const rt = Rtnl.open(ns);
    return { ns, rt, close: () => { rt.close(); ns.close(); } };
  } catch (e) {
    ns.close();
    throw e;
  }
}

/** For DEL: the pod, or undefined when its netns is already gone. */
export function openPodIfExists(netns: string): Pod | undefined {
  if (netns === '' || !existsSync(netns)) return undefined;
  try {
    return openPod(netns);
  } catch (e) {
    if (e instanceof CniError && e.code === ErrorCode.UnknownContainer) return undefined;
    throw e;
  }
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
