// veth CHECK: recompute what ADD makes (plan.ts) and report every difference.
import { CniError, type PluginContext } from '../../cni';
import { Rtnl } from '../../kernel';
import { linkAlias } from '../../kernel/link-alias';
import { requirePrevResult } from '../../chained/chain';
import { openPod } from '../../chained/pod';
import { MetaCode } from '../../chained/codes';
import { parseVethConf } from '../../chained/config';
import { checkMigrated, nicDefault, shouldMigrate } from '../../chained/default-route';
import { macProblem } from '../../chained/mac-rewrite';
import { describeRoute, describeRule, findRoutes, hasNeigh, hasRule, routeMatches } from '../../chained/netops';
import { requireNicIps } from '../../chained/nic-ips';
import { invocationLogger } from '../../chained/plugin-log';
import { podRpFilter, hostRpFilter } from '../../chained/rp-filter';
import { hostVethName, POD_VETH, primaryFromAlias } from './names';
import { planVeth } from './plan';

export async function vethCheck(ctx: PluginContext): Promise<void> {
  const conf = parseVethConf(ctx.conf.raw);
  const log = invocationLogger(conf, 'veth', ctx);
  if (conf.skipCall) return;
  const prev = requirePrevResult(ctx, 'veth');
  const ifname = ctx.env.ifname;
  const ips = requireNicIps(prev, ifname, 'veth');
  const pod = openPod(ctx.env.netns);
  const host = Rtnl.open();
  const problems: string[] = [];
  try {
    const badMac = conf.macPrefix !== undefined ? macProblem(pod, ifname, ips, conf.macPrefix) : undefined;
    if (badMac) problems.push(badMac);
    if (!conf.onlyOpMac) checkPlumbing(problems);
  } finally {
    host.close();
    pod.close();
  }
  if (problems.length > 0) {
    log.warn(`CHECK failed: ${problems.join('; ')}`);
    throw new CniError(MetaCode.CheckFailed, 'veth: CHECK failed', problems.join('; '));
  }
  log.info('CHECK ok');

  function checkPlumbing(out: string[]): void {
    const hostName = hostVethName(ctx.env.containerId);
    const podVeth = pod.rt.link(POD_VETH);
    const hostVeth = host.link(hostName);
    if (!podVeth || !hostVeth) {
      out.push(`veth pair missing: ${POD_VETH} in the pod ${podVeth ? 'exists' : 'is missing'}, ${hostName} on the host ${hostVeth ? 'exists' : 'is missing'}`);
      return;
    }
    if (podVeth.peerIndex !== hostVeth.index) out.push(`${POD_VETH} is not paired with ${hostName}`);
    if (!podVeth.up || !hostVeth.up) out.push(`${!podVeth.up ? POD_VETH : hostName} is down`);
    const owner = primaryFromAlias(linkAlias(POD_VETH, pod.ns));
    if (owner === undefined) {
      out.push(`${POD_VETH} is not marked as created by the veth plugin`);
      return;
    }
    const plan = planVeth({ conf, ifname, ips, primary: owner === ifname, hostName, hostMac: hostVeth.mac, podMac: podVeth.mac, host, pod: pod.rt });
    for (const n of plan.hostNeighs) if (!hasNeigh(host, n.dev, n.ip, n.mac)) out.push(`host: no permanent neighbour ${n.ip} lladdr ${n.mac} dev ${n.dev}`);
    for (const n of plan.podNeighs) if (!hasNeigh(pod.rt, n.dev, n.ip, n.mac)) out.push(`pod: no permanent neighbour ${n.ip} lladdr ${n.mac} dev ${n.dev}`);
    for (const r of plan.podRoutes) {
      const fam = r.dst.includes(':') ? 6 : 4;
      if (!findRoutes(pod.rt, r.dst, r.table, fam).some((h) => routeMatches(h, r))) out.push(`pod: route ${describeRoute(r)} missing`);
    }
    for (const r of plan.hostRoutes) {
      const fam = r.dst.includes(':') ? 6 : 4;
      // The source address follows the node's addresses; what matters is the route to the pod.
      const { src: _src, ...route } = r;
      if (!findRoutes(host, r.dst, r.table, fam).some((h) => routeMatches(h, route))) out.push(`host: route ${describeRoute(r)} missing`);
    }
    for (const r of plan.podRules) if (!hasRule(pod.rt, r)) out.push(`pod: rule ${describeRule(r)} missing`);
    if (!plan.primary) {
      for (const f of plan.families) {
        if (!shouldMigrate(conf.migrateRoute, pod.rt, ifname, f)) continue;
        const gw = ips.find((x) => x.family === f && x.gateway !== undefined)?.gateway;
        if (nicDefault(pod.rt, ifname, f, gw, plan.table)) out.push(...checkMigrated(pod.rt, ifname, f, plan.table).map((p) => `pod: ${p}`));
      }
    }
    const want = conf.rpFilter.value;
    for (const [dev, v] of podRpFilter(pod.ns, [POD_VETH, ifname])) if (v !== want) out.push(`pod: ${dev} rp_filter is ${v}, want ${want}`);
    if (conf.rpFilter.setHost) {
      const v = hostRpFilter(hostName);
      if (v !== want) out.push(`host: ${hostName} rp_filter is ${v}, want ${want}`);
    }
  }
}
