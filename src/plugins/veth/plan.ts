// What the veth plugin wants in the kernel for one NIC, computed from the config, the NIC's IPs
// and the current kernel state. ADD makes it so; CHECK compares against it; so the two cannot
// drift apart.
import { CniError } from '../../cni';
import type { Rtnl } from '../../kernel';
import { formatNet, hostCidr, type Family } from '../../chained/cidr';
import { MetaCode } from '../../chained/codes';
import { hijackSubnets, type MetaConf } from '../../chained/config';
import { discoverHostIps } from '../../chained/host-ips';
import { nicRoutesFor, type Route, type Rule } from '../../chained/netops';
import { families, type NicIp } from '../../chained/nic-ips';
import { FROM_RULE_PRIORITY, MAIN_TABLE, nicTable } from '../../chained/tables';
import { POD_VETH } from './names';

export interface Neigh { dev: string; ip: string; mac: string }

export interface VethPlan {
  /** This NIC created veth0: its routes go to the main table. */
  primary: boolean;
  /** Where this NIC's pod routes go: main for the primary NIC, else the NIC's own table. */
  table: number;
  families: Family[];
  hostIps: string[];
  podNeighs: Neigh[];
  hostNeighs: Neigh[];
  podRoutes: Route[];
  hostRoutes: Route[];
  podRules: Rule[];
}

export interface PlanInput {
  conf: MetaConf;
  ifname: string;
  ips: NicIp[];
  primary: boolean;
  hostName: string;
  hostMac: string;
  podMac: string;
  host: Rtnl;
  pod: Rtnl;
}

export function planVeth(i: PlanInput): VethPlan {
  const fams = families(i.ips);
  const table = i.primary ? MAIN_TABLE : nicTable(i.ifname);
  const found = discoverHostIps(i.host, i.ips.map((x) => x.ip), i.hostName);
  const hostIps = found.all.filter((ip) => fams.some((f) => (f === 4) === !ip.includes(':')));
  const plan: VethPlan = {
    primary: i.primary, table, families: fams, hostIps,
    podNeighs: hostIps.map((ip) => ({ dev: POD_VETH, ip, mac: i.hostMac })),
    hostNeighs: i.ips.map((x) => ({ dev: i.hostName, ip: x.ip, mac: i.podMac })),
    podRoutes: [], hostRoutes: [], podRules: [],
  };

  // A later NIC's own subnet routes, so `from <NIC IP>` traffic to its neighbours stays on the NIC.
  if (!i.primary) plan.podRoutes.push(...nicRoutesFor(i.pod, i.ifname, table));
  for (const ip of hostIps) {
    const r: Route = { dst: hostCidr(ip), dev: POD_VETH, table };
    if (!ip.includes(':')) r.scope = 'link';
    plan.podRoutes.push(r);
  }
  for (const f of fams) {
    const subnets = hijackSubnets(i.conf, f);
    const gw = found.gateway[f];
    if (subnets.length > 0 && gw === undefined) {
      throw new CniError(MetaCode.BadChain, 'veth: no host address to route through',
        `the pod has IPv${f} and IPv${f} hijack subnets are configured (${subnets.map(formatNet).join(', ')}), but this node has no usable IPv${f} address`);
    }
    for (const n of subnets) plan.podRoutes.push({ dst: formatNet(n), gw: gw!, dev: POD_VETH, table });
  }
  for (const x of i.ips) {
    const r: Route = { dst: hostCidr(x.ip), dev: i.hostName, table: MAIN_TABLE };
    if (x.family === 4) r.scope = 'link';
    const src = found.gateway[x.family];
    if (src !== undefined) r.src = src;
    plan.hostRoutes.push(r);
    if (!i.primary) plan.podRules.push({ family: x.family, priority: FROM_RULE_PRIORITY, from: hostCidr(x.ip), table });
  }
  return plan;
}
