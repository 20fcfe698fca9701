// What the rtnetlink handle takes and returns (Rtnl, index.ts).
import type { NetNs } from '../netns';
export interface LinkInfo {
  index: number;
  name: string;
  kind?: string;
  mtu: number;
  mac: string;
  up: boolean;
  operState: string;
  carrier: boolean;
  master?: number;
  peerIndex?: number;
  linkNetnsId?: number;
  /** Device group (IFLA_GROUP); 0 is the kernel's default group. */
  group: number;
  /** For kind 'vxlan': its parameters, so callers can tell a correct device from a stale one. */
  vxlan?: VxlanInfo;
}
/** A link's counters as the kernel keeps them (rtnl_link_stats64). */
export interface LinkStats { rxPackets: number; txPackets: number; rxBytes: number; txBytes: number; rxDropped: number; txDropped: number }
export interface VxlanInfo { vni: number; remote?: string; local?: string; dev?: number; dstPort: number }
export interface AddrInfo { ifindex: number; dev: string; family: 4 | 6; cidr: string }
export interface RouteSpec {
  dst: string;
  gw?: string;
  dev?: string;
  table?: number;
  scope?: 'universe' | 'link' | 'host';
  src?: string;
  metric?: number;
  protocol?: number;
}
export interface RouteInfo extends RouteSpec { family: 4 | 6; table: number }
export interface RuleSpec { priority?: number; from?: string; to?: string; table: number; family?: 4 | 6; iif?: string }
export interface NeighSpec { dev: string; ip: string; mac?: string; permanent?: boolean }
export interface NeighInfo { dev: string; ifindex: number; ip: string; mac?: string; state: number; permanent: boolean }
export interface VethSpec {
  name: string; peerName: string; peerNs?: NetNs; mtu?: number; mac?: string; peerMac?: string;
  /** Device group for both ends, so deleteGroup() can remove many links in one kernel batch. */
  group?: number;
}
export interface VxlanSpec {
  name: string; vni: number; local?: string; remote?: string; group?: string; dev?: string;
  dstPort?: number; mtu?: number; learning?: boolean; ns?: NetNs;
  /** Device group (IFLA_GROUP; `group` above is the multicast group). */
  devGroup?: number;
}
export interface MacvlanSpec {
  name: string; parent: string; mode?: 'private' | 'vepa' | 'bridge' | 'passthru'; ns?: NetNs; mtu?: number; mac?: string;
  group?: number;
}

// ---- constants (linux/rtnetlink.h, if_link.h, if_addr.h, neighbour.h, fib_rules.h) ----------
