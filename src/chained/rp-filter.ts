// rp_filter: the kernel uses max(conf.all, conf.<dev>) per interface. In the pod (ours to shape)
// we set all, default and the interfaces we route through. On the host we touch only the pod's
// own host-side link, never host-wide settings (upstream rewrote every host interface).
import { NetNs, readSysctl, withNetns, writeSysctl } from '../kernel';

const key = (dev: string): string => `net/ipv4/conf/${dev}/rp_filter`;

export function setPodRpFilter(pod: NetNs, value: number, devs: readonly string[]): void {
  withNetns(pod, () => {
    for (const d of ['all', 'default', ...devs]) writeSysctl(key(d), value);
  });
}

/** Current values in the pod, for CHECK: dev → value. */
export function podRpFilter(pod: NetNs, devs: readonly string[]): Map<string, number> {
  return withNetns(pod, () => new Map(['all', ...devs].map((d) => [d, Number(readSysctl(key(d)))])));
}

/** In the current (host) netns. */
export function setHostRpFilter(dev: string, value: number): void {
  writeSysctl(key(dev), value);
}

export function hostRpFilter(dev: string): number {
  return Number(readSysctl(key(dev)));
}

/** Lets IPv6 work in the pod: some runtimes create sandboxes with IPv6 disabled. */
export function enablePodIpv6(pod: NetNs, devs: readonly string[]): void {
  withNetns(pod, () => {
    for (const d of ['all', 'default', ...devs]) writeSysctl(`net/ipv6/conf/${d}/disable_ipv6`, 0);
  });
}
