// veth DEL: the primary NIC's DEL (or any DEL once the pod's netns is gone) deletes the host end
// of the pair, which takes the host routes and neighbour entries for the pod with it. A later
// NIC's DEL removes only its own pieces: host route and neighbour for its IPs, its pod rules and
// table. Everything already gone counts as done.
import type { PluginContext } from '../../cni';
import { Rtnl } from '../../kernel';
import { linkAlias } from '../../kernel/link-alias';
import { openPodIfExists, type Pod } from '../../chained/pod';
import { hostCidr } from '../../chained/cidr';
import { parseVethConf } from '../../chained/config';
import type { Logger } from '../../chained/log';
import { delNicIps } from '../../chained/nic-ips';
import { invocationLogger } from '../../chained/plugin-log';
import { nicTable } from '../../chained/tables';
import { hostVethName, POD_VETH, primaryFromAlias } from './names';

export async function vethDel(ctx: PluginContext): Promise<void> {
  const conf = parseVethConf(ctx.conf.raw);
  const log = invocationLogger(conf, 'veth', ctx);
  if (conf.skipCall || conf.onlyOpMac) return;
  const ifname = ctx.env.ifname;
  const hostName = hostVethName(ctx.env.containerId);
  const host = Rtnl.open();
  const pod = openPodIfExists(ctx.env.netns);
  try {
    const owner = pod && pod.rt.link(POD_VETH) ? primaryFromAlias(linkAlias(POD_VETH, pod.ns)) : undefined;
    if (pod && owner !== undefined && owner !== ifname) {
      delLaterNic(ctx, pod, host, hostName, log);
      return;
    }
    if (host.deleteLink(hostName)) log.info(`deleted host veth ${hostName}`);
    else log.debug(`host veth ${hostName} already gone`);
  } finally {
    pod?.close();
    host.close();
  }
}

function delLaterNic(ctx: PluginContext, pod: Pod, host: Rtnl, hostName: string, log: Logger): void {
  const ifname = ctx.env.ifname;
  const ips = delNicIps(ctx.conf.prevResult, pod.rt, ifname);
  for (const ip of ips) {
    host.delRoute({ dst: hostCidr(ip), dev: hostName });
    host.delNeigh({ dev: hostName, ip });
  }
  let table: number;
  try {
    table = nicTable(ifname);
  } catch {
    return; // ADD would have refused this name: nothing of ours to remove
  }
  for (const family of [4, 6] as const) {
    for (const r of pod.rt.rules(family).filter((x) => x.table === table)) pod.rt.delRule(r);
    for (const r of pod.rt.routes({ family, table })) pod.rt.delRoute(r);
  }
  log.info(`removed ${ifname}'s host routes for ${ips.join(', ') || '(no IPs known)'} and pod table ${table}`);
}
