// What the router plugin wants in the kernel for one underlay NIC (CNI_IFNAME, e.g. net1 from
// macvlan) next to the pod's overlay interface (overlay_interface, e.g. eth0). ADD makes it so,
// CHECK compares against it.
//  - pod → host traffic uses the overlay veth: host IPs /32 dev eth0 in main, static neighbours
//    both ways between eth0 and its host peer;
//  - overlay, service and additional subnets: `to <CIDR> lookup <eth0's table>` rules, and eth0's
//    routes (its default route moved, the rest copied) live in that table; `from <eth0 IP>`
//    replies use it too;
//  - the node → underlay IP path (a macvlan parent cannot reach its children): host rule
//    `from all lookup host_rule_table pref 1000` and `<net1 IP>/32 dev <eth0's host peer>` in
//    that table, when the node has an address in net1's subnet (not in sriov mode).
import type { Rtnl } from '../../kernel';
import { formatNet, hostCidr, type Family } from '../../chained/cidr';
import { hijackSubnets, type RouterConf } from '../../chained/config';
import { discoverHostIps, hostAddressIn } from '../../chained/host-ips';
import { nicRoutesFor, type Route, type Rule } from '../../chained/netops';
import { families, type NicIp } from '../../chained/nic-ips';
import { FROM_RULE_PRIORITY, MAIN_TABLE, nicTable, TO_RULE_PRIORITY } from '../../chained/tables';
import type { Overlay } from './overlay';

/** Priority of the host rule, as upstream. */
export const HOST_RULE_PRIORITY = 1000;

export interface Neigh { dev: string; ip: string; mac: string }

export interface RouterPlan {
  overlayTable: number;
  nicTable: number;
  families: Family[];
  overlayFamilies: Family[];
  hostIps: string[];
  podNeighs: Neigh[];
  hostNeighs: Neigh[];
  podRoutes: Route[];
  /** Host IPs via eth0 in the NIC's own table, for when its default route is migrated there. */
  nicTableRoutes: Route[];
  podRules: Rule[];
  hostRules: Rule[];
  hostRoutes: Route[];
}

export function planRouter(conf: RouterConf, ifname: string, ips: NicIp[], overlay: Overlay, host: Rtnl, pod: Rtnl): RouterPlan {
  const overlayTable = nicTable(conf.overlayInterface, 'overlay_interface');
  const table = nicTable(ifname);
  const fams = families(ips);
  const overlayFamilies = ([4, 6] as const).filter((f) => overlay.ips.some((x) => x.family === f));
  const found = discoverHostIps(host, [...overlay.ips.map((x) => x.ip), ...ips.map((x) => x.ip)]);
  const hostIps = found.all.filter((ip) => overlayFamilies.includes(ip.includes(':') ? 6 : 4));
  const plan: RouterPlan = {
    overlayTable, nicTable: table, families: fams, overlayFamilies, hostIps,
    podNeighs: hostIps.map((ip) => ({ dev: overlay.name, ip, mac: overlay.hostPeer.mac })),
    hostNeighs: [...overlay.ips, ...ips].map((x) => ({ dev: overlay.hostPeer.name, ip: x.ip, mac: overlay.link.mac })),
    podRoutes: [], nicTableRoutes: [], podRules: [], hostRules: [], hostRoutes: [],
  };
  for (const ip of hostIps) {
    const r: Route = { dst: hostCidr(ip), dev: overlay.name, table: MAIN_TABLE };
    if (!ip.includes(':')) r.scope = 'link';
    plan.podRoutes.push(r);
    plan.nicTableRoutes.push({ ...r, table });
  }
  // eth0's own (non-default) routes, copied into its table so the default route there resolves
  // and on-link overlay neighbours stay on-link.
  plan.podRoutes.push(...nicRoutesFor(pod, overlay.name, overlayTable).filter((r) => !hostIps.some((ip) => r.dst === hostCidr(ip))));
  for (const f of overlayFamilies) {
    for (const n of hijackSubnets(conf, f)) plan.podRules.push({ family: f, priority: TO_RULE_PRIORITY, to: formatNet(n), table: overlayTable });
  }
  for (const x of overlay.ips) plan.podRules.push({ family: x.family, priority: FROM_RULE_PRIORITY, from: hostCidr(x.ip), table: overlayTable });

  if (!conf.sriov) {
    for (const x of ips) {
      const nodeAddr = hostAddressIn(host, x.subnet);
      if (nodeAddr === undefined) continue;
      if (!plan.hostRules.some((r) => r.family === x.family)) {
        plan.hostRules.push({ family: x.family, priority: HOST_RULE_PRIORITY, table: conf.hostRuleTable });
      }
      // src: the node's own address in that subnet, which the pod routes back through eth0.
      const r: Route = { dst: hostCidr(x.ip), dev: overlay.hostPeer.name, table: conf.hostRuleTable, src: nodeAddr };
      if (x.family === 4) r.scope = 'link';
      plan.hostRoutes.push(r);
    }
  }
  return plan;
}
