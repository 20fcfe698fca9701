/** TAP devices through /dev/net/tun (TUNSETIFF), created in a chosen netns. */
import * as libc from './libc';
import { KernelError } from './errors';
import { validateIfName } from './ip';
import { NetNs, withNetns } from './netns';

const IFF_TAP = 0x0002, IFF_NO_PI = 0x1000, IFF_VNET_HDR = 0x4000;

/**
 * Create (or attach to) TAP `name`. The device lives in the netns that opened /dev/net/tun, so with
 * opts.ns both the open and the ioctl happen inside withNetns.
 * Returns the queue fd (blocking; O_CLOEXEC), which the caller owns and must close — closing it
 * removes a non-persistent TAP. With persistent: the TAP is made persistent, the fd closed, -1 returned.
 */
export function createTap(name: string, opts: { ns?: NetNs; persistent?: boolean; vnetHdr?: boolean } = {}): number {
  validateIfName(name);
  const where = opts.ns ? ` in netns ${opts.ns.path}` : '';
  const make = (): number => {
    const fd = libc.open('/dev/net/tun', libc.O_RDWR | libc.O_CLOEXEC);
    if (fd < 0) throw new KernelError(`opening /dev/net/tun for tap ${name}${where}`, libc.errno());
    try {
      const ifr = Buffer.alloc(40);
      ifr.write(name, 0, 'utf8');
      ifr.writeUInt16LE(IFF_TAP | IFF_NO_PI | (opts.vnetHdr ? IFF_VNET_HDR : 0), 16);
      if (libc.ioctlPtr(fd, libc.TUNSETIFF, ifr) < 0) throw new KernelError(`creating tap ${name}${where}`, libc.errno());
      if (opts.persistent && libc.ioctlInt(fd, libc.TUNSETPERSIST, 1) < 0) {
        throw new KernelError(`making tap ${name}${where} persistent`, libc.errno());
      }
    } catch (err) {
      libc.close(fd);
      throw err;
    }
    return fd;
  };
  const fd = opts.ns ? withNetns(opts.ns, make) : make();
  if (opts.persistent) {
    libc.close(fd);
    return -1;
  }
  return fd;
}

/** Close an fd returned by createTap (or any fd from this layer). */
export function closeFd(fd: number): void {
  if (fd >= 0) libc.close(fd);
}
