// router CHECK: recompute what ADD makes (plan.ts plus the default-route placement) and report every difference.
import { CniError, type PluginContext } from '../../cni';
import { Rtnl } from '../../kernel';
import { requirePrevResult } from '../../chained/chain';
import { openPod } from '../../chained/pod';
import { hostCidr } from '../../chained/cidr';
import { MetaCode } from '../../chained/codes';
import { parseRouterConf } from '../../chained/config';
import { checkMigrated, mainDefaults, nicDefault, shouldMigrate } from '../../chained/default-route';
import { macProblem } from '../../chained/mac-rewrite';
import { describeRoute, describeRule, findRoutes, hasNeigh, hasRule, routeMatches, type Rule } from '../../chained/netops';
import { requireNicIps } from '../../chained/nic-ips';
import { invocationLogger } from '../../chained/plugin-log';
import { hostRpFilter, podRpFilter } from '../../chained/rp-filter';
import { FROM_RULE_PRIORITY } from '../../chained/tables';
import { findOverlay } from './overlay';
import { planRouter } from './plan';

export async function routerCheck(ctx: PluginContext): Promise<void> {
  const conf = parseRouterConf(ctx.conf.raw);
  const log = invocationLogger(conf, 'router', ctx);
  if (conf.skipCall) return;
  const prev = requirePrevResult(ctx, 'router');
  const ifname = ctx.env.ifname;
  const ips = requireNicIps(prev, ifname, 'router');
  const pod = openPod(ctx.env.netns);
  const host = Rtnl.open();
  const out: string[] = [];
  try {
    const badMac = conf.macPrefix !== undefined ? macProblem(pod, ifname, ips, conf.macPrefix) : undefined;
    if (badMac) out.push(badMac);
    if (!conf.onlyOpMac) {
      const overlay = findOverlay(pod.rt, host, conf.overlayInterface);
      const plan = planRouter(conf, ifname, ips, overlay, host, pod.rt);
      const fam = (dst: string): 4 | 6 => (dst.includes(':') ? 6 : 4);
      for (const n of plan.hostNeighs) if (!hasNeigh(host, n.dev, n.ip, n.mac)) out.push(`host: no permanent neighbour ${n.ip} lladdr ${n.mac} dev ${n.dev}`);
      for (const n of plan.podNeighs) if (!hasNeigh(pod.rt, n.dev, n.ip, n.mac)) out.push(`pod: no permanent neighbour ${n.ip} lladdr ${n.mac} dev ${n.dev}`);
      for (const r of plan.podRoutes) {
        if (!findRoutes(pod.rt, r.dst, r.table, fam(r.dst)).some((h) => routeMatches(h, r))) out.push(`pod: route ${describeRoute(r)} missing`);
      }
      for (const r of plan.podRules) if (!hasRule(pod.rt, r)) out.push(`pod: rule ${describeRule(r)} missing`);
      for (const f of plan.overlayFamilies) {
        if (mainDefaults(pod.rt, f).some((r) => r.dev === overlay.name)) out.push(`pod: IPv${f} default route via ${overlay.name} is still in the main table`);
      }
      for (const f of plan.families) {
        const gw = ips.find((x) => x.family === f && x.gateway !== undefined)?.gateway;
        if (shouldMigrate(conf.migrateRoute, pod.rt, ifname, f, [overlay.name])) {
          for (const r of plan.nicTableRoutes.filter((x) => fam(x.dst) === f)) {
            if (!findRoutes(pod.rt, r.dst, r.table, f).some((h) => routeMatches(h, r))) out.push(`pod: route ${describeRoute(r)} missing`);
          }
          if (nicDefault(pod.rt, ifname, f, gw, plan.nicTable)) out.push(...checkMigrated(pod.rt, ifname, f, plan.nicTable).map((p) => `pod: ${p}`));
          for (const x of ips.filter((i) => i.family === f)) {
            const rule: Rule = { family: f, priority: FROM_RULE_PRIORITY, from: hostCidr(x.ip), table: plan.nicTable };
            if (!hasRule(pod.rt, rule)) out.push(`pod: rule ${describeRule(rule)} missing`);
          }
        } else if (gw !== undefined && !mainDefaults(pod.rt, f).some((r) => r.dev === ifname)) {
          out.push(`pod: IPv${f} main default route is not via ${ifname}`);
        }
      }
      for (const r of plan.hostRoutes) {
        if (!findRoutes(host, r.dst, r.table, fam(r.dst)).some((h) => routeMatches(h, r))) out.push(`host: route ${describeRoute(r)} missing`);
      }
      for (const r of plan.hostRules) if (!hasRule(host, r)) out.push(`host: rule ${describeRule(r)} missing`);
      const want = conf.rpFilter.value;
      for (const [dev, v] of podRpFilter(pod.ns, [overlay.name, ifname])) if (v !== want) out.push(`pod: ${dev} rp_filter is ${v}, want ${want}`);
      if (conf.rpFilter.setHost) {
        const v = hostRpFilter(overlay.hostPeer.name);
        if (v !== want) out.push(`host: ${overlay.hostPeer.name} rp_filter is ${v}, want ${want}`);
      }
    }
  } finally {
    host.close();
    pod.close();
  }
  if (out.length > 0) {
    log.warn(`CHECK failed: ${out.join('; ')}`);
    throw new CniError(MetaCode.CheckFailed, 'router: CHECK failed', out.join('; '));
  }
  log.info('CHECK ok');
}
