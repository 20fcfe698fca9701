// Delegate mode, as the original meshnet ran (its README's config): with a `delegate` object,
// meshnet is the master plugin of a single-plugin config, not a link in a chain. It runs the
// delegate (bridge + host-local for eth0, say) from CNI_PATH exactly as a runtime would, plumbs
// its own links after a successful ADD, and answers with the delegate's result. DEL runs the
// delegate even when meshnet's own cleanup finds nothing; a failed ADD leaves nothing behind.
import { CniError, ErrorCode, execPlugin, parseResult, type CniCommand, type CniResult, type Invocation, type PluginContext } from '../../cni';

/** The delegate's config, with the outer `cniVersion` and `name` when it lacks them; undefined without one. */
export function delegateConf(ctx: PluginContext): Record<string, unknown> | undefined {
  const d = ctx.conf.raw['delegate'];
  if (d === undefined || d === null) return undefined;
  const bad = (why: string, field = '') => new CniError(ErrorCode.InvalidNetworkConfig, 'invalid meshnet config', `"delegate${field}" ${why}`);
  if (typeof d !== 'object' || Array.isArray(d)) throw bad(`must be a plugin configuration object, got ${JSON.stringify(d)}`);
  const conf = d as Record<string, unknown>;
  const type = conf['type'];
  if (typeof type !== 'string' || type === '' || type.includes('/')) throw bad(`must be a plugin binary name such as "bridge", got ${JSON.stringify(type)}`, '.type');
  if (type === 'meshnet') throw bad('must be another plugin than meshnet', '.type');
  // An ADD's prevResult means a chain: there the main plugin is listed before meshnet. (CHECK and
  // DEL carry the ADD's result as prevResult, which goes on to the delegate.)
  if (ctx.env.command === 'ADD' && ctx.conf.prevResult) throw bad('is for meshnet as the only plugin of a config (the original meshnet\'s layout); in a chain, list that plugin before meshnet instead');
  const prev = ctx.env.command !== 'ADD' && ctx.conf.raw['prevResult'] !== undefined ? { prevResult: ctx.conf.raw['prevResult'] } : {};
  return { ...conf, cniVersion: conf['cniVersion'] ?? ctx.conf.cniVersion, name: conf['name'] ?? ctx.conf.name, ...prev };
}

/** Runs the delegate for `command` with this call's environment; its result for ADD. */
export async function runDelegate(conf: Record<string, unknown>, command: CniCommand, ctx: PluginContext): Promise<CniResult | undefined> {
  const inv: Invocation = {
    containerId: ctx.env.containerId, netns: ctx.env.netns, ifname: ctx.env.ifname, path: ctx.env.path,
    // CNI_ARGS as the runtime gave it (unknown keys included: IgnoreUnknown is the delegate's call).
    ...(ctx.env.argsRaw ? { env: { CNI_ARGS: ctx.env.argsRaw } } : {}),
  };
  const out = await execPlugin(conf, command, inv);
  if (command !== 'ADD') return undefined;
  if (out === undefined) throw new CniError(ErrorCode.DecodeFailure, 'invalid delegate output', `${String(conf['type'])}: ADD succeeded but printed no result`);
  return parseResult(out, `delegate ${String(conf['type'])} result`, conf['cniVersion'] as CniResult['cniVersion']);
}
