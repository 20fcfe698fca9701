// router ADD: see plan.ts for what it builds. Order: neighbours, pod routes, the overlay table and
// its rules, the underlay NIC's default route (migrate_route), the host path, rp_filter.
import { CniError, ErrorCode, type CniResult, type PluginContext } from '../../cni';
import type { Rtnl } from '../../kernel';
import { addWithRollback, requirePrevResult, skippedAdd } from '../../chained/chain';
import type { Pod } from '../../chained/pod';
import { parseRouterConf, type RouterConf } from '../../chained/config';
import { ensureMainDefault, migrateDefault, moveDefaultsOut, shouldMigrate } from '../../chained/default-route';
import type { Logger } from '../../chained/log';
import { describeRoute, ensureNeigh, ensureRoute, ensureRule, nicRoutesFor } from '../../chained/netops';
import { requireNicIps, type NicIp } from '../../chained/nic-ips';
import { invocationLogger } from '../../chained/plugin-log';
import { setHostRpFilter, setPodRpFilter } from '../../chained/rp-filter';
import { FROM_RULE_PRIORITY } from '../../chained/tables';
import type { Undo } from '../../chained/undo';
import { hostCidr } from '../../chained/cidr';
import { ensureHostPath } from './host-rule';
import { findOverlay } from './overlay';
import { planRouter } from './plan';

export async function routerAdd(ctx: PluginContext): Promise<CniResult> {
  const conf = parseRouterConf(ctx.conf.raw);
  const log = invocationLogger(conf, 'router', ctx);
  const skipped = skippedAdd(ctx, conf.skipCall, log);
  if (skipped) return skipped;
  const prev = requirePrevResult(ctx, 'router');
  const ifname = ctx.env.ifname;
  if (ifname === conf.overlayInterface) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid router config',
      `"overlay_interface": ${JSON.stringify(ifname)} is the interface this call is for (CNI_IFNAME); router runs in the chain of another NIC`);
  }
  const ips = requireNicIps(prev, ifname, 'router');
  log.info(`underlay IPs ${ips.map((x) => x.cidr).join(', ')}; overlay interface ${conf.overlayInterface}`);

  return addWithRollback({ conf, plugin: 'router', netns: ctx.env.netns, ifname, ips, prev, log }, (pod, host, result, undo) => {
    plumb(conf, ifname, pod, host, ips, undo, log);
    return result;
  });
}

function plumb(conf: RouterConf, ifname: string, pod: Pod, host: Rtnl, ips: NicIp[], undo: Undo, log: Logger): void {
  const overlay = findOverlay(pod.rt, host, conf.overlayInterface);
  const plan = planRouter(conf, ifname, ips, overlay, host, pod.rt);
  log.debug(`overlay ${overlay.name} (host peer ${overlay.hostPeer.name}), table ${plan.overlayTable}; host IPs ${plan.hostIps.join(', ')}`);

  for (const n of plan.hostNeighs) ensureNeigh(host, n.dev, n.ip, n.mac, undo);
  for (const n of plan.podNeighs) ensureNeigh(pod.rt, n.dev, n.ip, n.mac, undo);
  for (const r of plan.podRoutes) {
    log.debug(`pod route ${describeRoute(r)}`);
    ensureRoute(pod.rt, r, undo);
  }
  for (const f of plan.overlayFamilies) moveDefaultsOut(pod.rt, overlay.name, f, plan.overlayTable, undo);
  for (const r of plan.podRules) ensureRule(pod.rt, r, undo);

  for (const f of plan.families) {
    const gw = ips.find((x) => x.family === f && x.gateway !== undefined)?.gateway;
    if (shouldMigrate(conf.migrateRoute, pod.rt, ifname, f, [overlay.name])) {
      // Replies from the NIC's address to the node must still go through eth0.
      for (const r of [...nicRoutesFor(pod.rt, ifname, plan.nicTable), ...plan.nicTableRoutes.filter((x) => x.dst.includes(':') === (f === 6))]) {
        ensureRoute(pod.rt, r, undo);
      }
      migrateDefault(pod.rt, ifname, f, gw, plan.nicTable, undo);
      for (const x of ips.filter((i) => i.family === f)) {
        ensureRule(pod.rt, { family: f, priority: FROM_RULE_PRIORITY, from: hostCidr(x.ip), table: plan.nicTable }, undo);
      }
      log.info(`IPv${f} default route of ${ifname} is in table ${plan.nicTable}`);
    } else if (ensureMainDefault(pod.rt, ifname, f, gw, undo)) {
      log.info(`IPv${f} main default route is via ${ifname}`);
    } else {
      log.warn(`${ifname} has no IPv${f} gateway: the pod has no IPv${f} main default route now`);
    }
  }

  if (plan.hostRoutes.length > 0) {
    ensureHostPath(host, plan.hostRules, plan.hostRoutes, undo);
    log.debug(`host: ${plan.hostRoutes.map(describeRoute).join(', ')}`);
  }
  setPodRpFilter(pod.ns, conf.rpFilter.value, [overlay.name, ifname]);
  if (conf.rpFilter.setHost) setHostRpFilter(overlay.hostPeer.name, conf.rpFilter.value);
}
