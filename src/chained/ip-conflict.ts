// ip_conflict: before plumbing, probe the NIC's IPv4 addresses with ARP and fail the ADD when
// another host answers for one of them. IPv6 duplicates are already caught by the kernel's DAD,
// which the main plugin waits for before it returns.
import { CniError } from '../cni';
import { arpProbe } from '../kernel/arp-probe';
import { MetaCode } from './codes';
import type { IpConflict } from './config';
import type { Logger } from './log';
import type { Pod } from './pod';
import type { NicIp } from './nic-ips';

export async function probeConflicts(pod: Pod, ifname: string, ips: readonly NicIp[], opts: IpConflict, log: Logger): Promise<void> {
  for (const x of ips.filter((i) => i.family === 4)) {
    const mac = arpProbe(pod.ns, ifname, x.ip, { retries: opts.retries, intervalMs: opts.intervalMs });
    if (mac !== undefined) {
      throw new CniError(MetaCode.IpConflict, 'IP address conflict',
        `${x.ip} (${ifname}) is already in use by ${mac}: ip_conflict probing found another host answering for it`);
    }
    log.debug(`ip_conflict: nobody else answers for ${x.ip}`);
  }
}
