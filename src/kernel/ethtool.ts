/**
 * Offload settings through the SIOCETHTOOL ioctl (legacy per-feature commands), on an AF_INET
 * datagram socket created in the calling thread's netns: call inside withNetns for another netns.
 */
import * as libc from './libc';
import { KernelError } from './errors';
import { validateIfName } from './ip';

const ETHTOOL_GTXCSUM = 0x16, ETHTOOL_STXCSUM = 0x17;
const ETHTOOL_SUFO = 0x22;
const ETHTOOL_GTSO = 0x1e, ETHTOOL_STSO = 0x1f;
const ETHTOOL_GGSO = 0x23, ETHTOOL_SGSO = 0x24;
const EOPNOTSUPP = 95, EINVAL = 22;

/** Run fn(ethtoolValue) with an ifreq whose ifr_data points at an 8-byte struct ethtool_value. */
function withEthtool<T>(ifname: string, what: string, fn: (call: (cmd: number, data: number) => number) => T): T {
  validateIfName(ifname, 'ifname');
  const fd = libc.socket(libc.AF_INET, libc.SOCK_DGRAM | libc.SOCK_CLOEXEC, 0);
  if (fd < 0) throw new KernelError(`opening ethtool socket for ${ifname}`, libc.errno());
  const mem = libc.allocBytes(8);
  try {
    const ifr = Buffer.alloc(40);
    ifr.write(ifname, 0, 'utf8');
    ifr.writeBigUInt64LE(libc.addressOf(mem), 16);
    const val = Buffer.alloc(8);
    return fn((cmd, data) => {
      val.writeUInt32LE(cmd, 0);
      val.writeUInt32LE(data >>> 0, 4);
      libc.writeBytes(mem, val);
      if (libc.ioctlPtr(fd, libc.SIOCETHTOOL, ifr) < 0) return -libc.errno();
      return libc.readBytes(mem, 8).readUInt32LE(4);
    });
  } catch (err) {
    if (err instanceof KernelError) throw err;
    throw new Error(`${what} on ${ifname}: ${(err as Error).message}`);
  } finally {
    libc.freeBytes(mem);
    libc.close(fd);
  }
}

/**
 * Turn off tx checksumming, TSO, GSO and (where the kernel still has it) UFO — what meshnet does to
 * both ends of a veth. Turning off tx checksumming also makes the kernel drop TSO.
 */
export function disableTxOffloads(ifname: string): void {
  withEthtool(ifname, 'disabling tx offloads', (call) => {
    const steps: [number, string, boolean][] = [
      [ETHTOOL_STXCSUM, 'tx-checksumming', true],
      [ETHTOOL_STSO, 'tcp-segmentation-offload', true],
      [ETHTOOL_SUFO, 'udp-fragmentation-offload', false],
      [ETHTOOL_SGSO, 'generic-segmentation-offload', true],
    ];
    for (const [cmd, name, required] of steps) {
      const r = call(cmd, 0);
      if (r < 0 && (required || (-r !== EOPNOTSUPP && -r !== EINVAL))) {
        throw new KernelError(`disabling ${name} on ${ifname}`, -r);
      }
    }
  });
}

export function txOffloadsEnabled(ifname: string): { txCsum: boolean; tso: boolean; gso: boolean } {
  return withEthtool(ifname, 'reading tx offloads', (call) => {
    const get = (cmd: number, name: string): boolean => {
      const r = call(cmd, 0);
      if (r < 0) throw new KernelError(`reading ${name} of ${ifname}`, -r);
      return r !== 0;
    };
    return {
      txCsum: get(ETHTOOL_GTXCSUM, 'tx-checksumming'),
      tso: get(ETHTOOL_GTSO, 'tcp-segmentation-offload'),
      gso: get(ETHTOOL_GGSO, 'generic-segmentation-offload'),
    };
  });
}

