// veth ADD: a veth pair between the pod and its host (created by the first NIC's call, reused by
// later ones), permanent neighbour entries both ways, pod routes to the host and to the hijacked
// subnets through it, a host route back to the pod, per-NIC tables for later NICs, rp_filter.
import { type CniResult, type PluginContext } from '../../cni';
import { Rtnl, writeSysctl } from '../../kernel';
import { linkAlias, setLinkAlias } from '../../kernel/link-alias';
import { addWithRollback, requirePrevResult, skippedAdd, withInterfaces } from '../../chained/chain';
import type { Pod } from '../../chained/pod';
import { parseVethConf, type MetaConf } from '../../chained/config';
import { migrateDefault, shouldMigrate } from '../../chained/default-route';
import type { Logger } from '../../chained/log';
import { describeRoute, ensureNeigh, ensureRoute, ensureRule } from '../../chained/netops';
import { requireNicIps, type NicIp } from '../../chained/nic-ips';
import { invocationLogger } from '../../chained/plugin-log';
import { enablePodIpv6, setHostRpFilter, setPodRpFilter } from '../../chained/rp-filter';
import type { Undo } from '../../chained/undo';
import { hostVethName, POD_VETH, primaryAlias, primaryFromAlias } from './names';
import { planVeth } from './plan';

export async function vethAdd(ctx: PluginContext): Promise<CniResult> {
  const conf = parseVethConf(ctx.conf.raw);
  const log = invocationLogger(conf, 'veth', ctx);
  const skipped = skippedAdd(ctx, conf.skipCall, log);
  if (skipped) return skipped;
  const prev = requirePrevResult(ctx, 'veth');
  const ifname = ctx.env.ifname;
  const ips = requireNicIps(prev, ifname, 'veth');
  log.info(`pod IPs ${ips.map((x) => x.cidr).join(', ')}`);

  return addWithRollback({ conf, plugin: 'veth', netns: ctx.env.netns, ifname, ips, prev, log },
    (pod, host, result, undo) => plumb(conf, ctx, pod, host, ips, result, undo, log));
}

function plumb(conf: MetaConf, ctx: PluginContext, pod: Pod, host: Rtnl, ips: NicIp[], prev: CniResult, undo: Undo, log: Logger): CniResult {
  const ifname = ctx.env.ifname;
  const hostName = hostVethName(ctx.env.containerId);
  const primary = ensureVethPair(pod, host, hostName, ifname, undo, log);
  const hostVeth = host.link(hostName)!;
  const podVeth = pod.rt.link(POD_VETH)!;

  const plan = planVeth({ conf, ifname, ips, primary, hostName, hostMac: hostVeth.mac, podMac: podVeth.mac, host, pod: pod.rt });
  log.debug(`${primary ? 'primary NIC: main table' : `later NIC: table ${plan.table}`}; host IPs ${plan.hostIps.join(', ')}`);

  if (plan.families.includes(6)) {
    enablePodIpv6(pod.ns, [POD_VETH, ifname]);
    writeSysctl(`net/ipv6/conf/${hostName}/disable_ipv6`, 0);
  }

  // A failed or stale ARP/NDP entry for the pod IP on another host device (typically the macvlan
  // parent, from tries before the pod had a path) is dropped, as upstream does: from now on the
  // host knows the pod only through its veth.
  for (const x of ips) {
    for (const n of host.neighs(undefined, x.family)) {
      if (n.ip === x.ip && n.dev !== hostName && !n.permanent) host.delNeigh({ dev: n.dev, ip: n.ip });
    }
  }
  for (const n of plan.hostNeighs) ensureNeigh(host, n.dev, n.ip, n.mac, undo);
  for (const n of plan.podNeighs) ensureNeigh(pod.rt, n.dev, n.ip, n.mac, undo);
  for (const r of plan.podRoutes) {
    log.debug(`pod route ${describeRoute(r)}`);
    ensureRoute(pod.rt, r, undo);
  }
  for (const r of plan.podRules) ensureRule(pod.rt, r, undo);
  if (!primary) {
    for (const f of plan.families) {
      if (!shouldMigrate(conf.migrateRoute, pod.rt, ifname, f)) continue;
      const gw = ips.find((x) => x.family === f && x.gateway !== undefined)?.gateway;
      const moved = migrateDefault(pod.rt, ifname, f, gw, plan.table, undo);
      if (moved) log.info(`IPv${f} default route of ${ifname} is in table ${plan.table}`);
    }
  }
  for (const r of plan.hostRoutes) {
    log.debug(`host route ${describeRoute(r)}`);
    ensureRoute(host, r, undo);
  }

  setPodRpFilter(pod.ns, conf.rpFilter.value, [POD_VETH, ifname]);
  if (conf.rpFilter.setHost) setHostRpFilter(hostName, conf.rpFilter.value);

  return withInterfaces(prev, [
    { name: hostName, mac: hostVeth.mac },
    { name: POD_VETH, mac: podVeth.mac, sandbox: ctx.env.netns },
  ]);
}

/** Creates the pair on the first NIC's call; returns whether this NIC is the primary one. */
function ensureVethPair(pod: Pod, host: Rtnl, hostName: string, ifname: string, undo: Undo, log: Logger): boolean {
  const existing = pod.rt.link(POD_VETH);
  if (existing) {
    const owner = primaryFromAlias(linkAlias(POD_VETH, pod.ns));
    if (owner === undefined) {
      throw new Error(`the pod already has an interface ${POD_VETH} that the veth plugin did not create`);
    }
    const hostEnd = host.link(hostName);
    if (!hostEnd || hostEnd.index !== existing.peerIndex) {
      throw new Error(`${POD_VETH} exists in the pod but its host end ${hostName} is missing or not its peer`);
    }
    return owner === ifname;
  }
  // A host end without its pod end is left from an earlier sandbox of this container: ours to replace.
  if (host.link(hostName)) {
    log.warn(`deleting stale host link ${hostName} (its pod end is gone)`);
    host.deleteLink(hostName);
  }
  host.createVeth({ name: hostName, peerName: POD_VETH, peerNs: pod.ns, mtu: 1500 });
  undo.push(`delete veth ${hostName}`, () => host.deleteLink(hostName));
  setLinkAlias(POD_VETH, primaryAlias(ifname), pod.ns);
  host.setUp(hostName);
  pod.rt.setUp(POD_VETH);
  log.info(`created veth pair ${POD_VETH} (pod) / ${hostName} (host)`);
  return true;
}

