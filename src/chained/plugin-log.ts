// One logger per invocation, tagged with what a reader of the log needs to find a pod's lines.
import type { PluginContext } from '../cni';
import type { MetaConf } from './config';
import { FileLogger, type Logger } from './log';

export function invocationLogger(conf: MetaConf, plugin: string, ctx: PluginContext): Logger {
  const { command, containerId, ifname } = ctx.env;
  return new FileLogger(conf.log, { plugin, command, container: containerId || undefined, ifname: ifname || undefined });
}
