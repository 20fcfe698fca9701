// router DEL: the host side first (the pod's route in host_rule_table, and the shared host rule
// once that table is empty), then, if the pod still exists, its rules and tables, with the
// overlay's default route put back into main. Everything already gone counts as done.
import type { PluginContext } from '../../cni';
import { Rtnl } from '../../kernel';
import { openPodIfExists } from '../../chained/pod';
import { hostCidr, isDefaultDst } from '../../chained/cidr';
import { parseRouterConf } from '../../chained/config';
import { mainDefaults } from '../../chained/default-route';
import { delNicIps } from '../../chained/nic-ips';
import { invocationLogger } from '../../chained/plugin-log';
import { MAIN_TABLE, nicTable } from '../../chained/tables';
import { removeHostPath } from './host-rule';
import { HOST_RULE_PRIORITY } from './plan';

export async function routerDel(ctx: PluginContext): Promise<void> {
  const conf = parseRouterConf(ctx.conf.raw);
  const log = invocationLogger(conf, 'router', ctx);
  if (conf.skipCall || conf.onlyOpMac) return;
  const ifname = ctx.env.ifname;
  const host = Rtnl.open();
  const pod = openPodIfExists(ctx.env.netns);
  try {
    const ips = delNicIps(ctx.conf.prevResult, pod?.rt, ifname);
    const removed = removeHostPath(host, conf.hostRuleTable, ips.map(hostCidr), HOST_RULE_PRIORITY);
    log.info(`host: removed ${removed.join(', ') || 'nothing (already gone)'}`);
    if (!pod) return;

    let tables: number[];
    try {
      tables = [nicTable(ifname), nicTable(conf.overlayInterface, 'overlay_interface')];
    } catch {
      return; // ADD would have refused these names: nothing of ours in the pod
    }
    const [own, overlayTable] = tables as [number, number];
    for (const family of [4, 6] as const) {
      // Give the overlay its default route back when nothing else holds main.
      const back = pod.rt.routes({ family, table: overlayTable }).find((r) => isDefaultDst(r.dst) && r.dev === conf.overlayInterface);
      if (back && mainDefaults(pod.rt, family).filter((r) => r.dev !== ifname).length === 0 && pod.rt.link(conf.overlayInterface)) {
        for (const r of mainDefaults(pod.rt, family).filter((x) => x.dev === ifname)) pod.rt.delRoute(r);
        pod.rt.addRoute({ ...back, table: MAIN_TABLE, replace: true });
      }
      for (const r of pod.rt.rules(family).filter((x) => x.table === own || x.table === overlayTable)) pod.rt.delRule(r);
      for (const t of tables) for (const r of pod.rt.routes({ family, table: t })) pod.rt.delRoute(r);
    }
    log.info(`pod: removed rules and tables ${tables.join(', ')}`);
  } finally {
    pod?.close();
    host.close();
  }
}
