// Public API of the CNI contract library: plugin side (skeleton) and runtime side (invoke).
export { SUPPORTED_VERSIONS, LATEST_VERSION, CHAINED_VERSIONS, LEGACY_VERSIONS, isLegacyVersion, isSupportedVersion, versionAtLeast } from './versions';
export type { CniVersion } from './versions';
export { ErrorCode, CniError, describeValue } from './errors';
export type { CniErrorJSON, ErrorCodeValue } from './errors';
export type { CniInterface, CniIPConfig, CniRoute, CniDNS, CniResult } from './types';
export { parseCidr, isIP, ipFamily } from './ip';
export type { Cidr, IPFamily } from './ip';
export { parseResult, formatResult, emptyResult } from './result';
export { parseCniArgs, formatCniArgs } from './args';
export type { CniArgs } from './args';
export { parseEnv, parseCommand, requireNetnsPath, validateIfName, validateContainerId, isCniCommand, CNI_COMMANDS } from './env';
export type { CniCommand, CniEnv } from './env';
export { parseNetConf, parseConfList } from './config';
export type { NetConf, ConfList } from './config';
export { runPlugin, processIO, toCniError } from './skeleton';
export type { PluginContext, PluginFuncs, PluginIO } from './skeleton';
export {
  execPlugin,
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  pluginVersions,
  findPlugin,
  buildPluginConf,
  PluginExecError,
} from './invoke';
export type { Invocation, ExecTrace } from './invoke';
