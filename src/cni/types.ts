import type { CniVersion } from './versions';

// The internal, normalized result: always the 1.1.0 shape, whatever version it was parsed from.
// Conversion to and from older wire formats happens only in result.ts.

export interface CniInterface {
  name: string;
  mac?: string;
  /** 1.1.0+ only; dropped when formatting for older versions. */
  mtu?: number;
  /** netns path for container-side interfaces; absent for host-side ones. */
  sandbox?: string;
  /** 1.1.0+ only. */
  socketPath?: string;
  /** 1.1.0+ only. */
  pciID?: string;
}

export interface CniIPConfig {
  /** CIDR: the interface address with its prefix length, e.g. "10.0.0.2/24". */
  address: string;
  gateway?: string;
  /** Index into CniResult.interfaces. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  /** mtu, advmss, priority, table and scope are 1.1.0+ only. */
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: CniVersion;
  interfaces: CniInterface[];
  ips: CniIPConfig[];
  routes: CniRoute[];
  dns: CniDNS;
}
