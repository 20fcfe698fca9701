/**
 * ARP probe (RFC 5227 style: sender IP 0.0.0.0) for duplicate-address detection on IPv4. A new
 * addition to the kernel layer for the meta plugins' `ip_conflict`. Synchronous: the socket is
 * created inside the target netns (withNetns) and blocks for at most retries × interval.
 */
import * as libc from './libc';
import { KernelError } from './errors';
import { formatMac, parseIp, parseMac, validateIfName } from './ip';
import { NetNs, withNetns } from './netns';
import { Rtnl } from './rtnl';

const AF_PACKET = 17;
const ETH_P_ARP = 0x0806;
const ARPHRD_ETHER = 1;
const ARPOP_REQUEST = 1, ARPOP_REPLY = 2;
const EAGAIN = 11;

function htons(v: number): number {
  return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
}

function sockaddrLl(ifindex: number, dstMac?: Buffer): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16LE(AF_PACKET, 0);
  b.writeUInt16BE(ETH_P_ARP, 2);
  b.writeInt32LE(ifindex, 4);
  b.writeUInt16LE(ARPHRD_ETHER, 8);
  if (dstMac) {
    b.writeUInt8(6, 11);
    dstMac.copy(b, 12);
  }
  return b;
}

function arpRequest(srcMac: Buffer, targetIp: Buffer): Buffer {
  const p = Buffer.alloc(28);
  p.writeUInt16BE(ARPHRD_ETHER, 0);
  p.writeUInt16BE(0x0800, 2);
  p.writeUInt8(6, 4);
  p.writeUInt8(4, 5);
  p.writeUInt16BE(ARPOP_REQUEST, 6);
  srcMac.copy(p, 8);
  // sender IP stays 0.0.0.0: a probe must not update anyone's ARP cache
  targetIp.copy(p, 24);
  return p;
}

export interface ArpProbeOptions {
  /** Probes to send (default 3). */
  retries?: number;
  /** Wait for replies after each probe, in ms (default 100). */
  intervalMs?: number;
}

/**
 * Sends ARP probes for `ip` out of `dev` in `ns` and returns the MAC of another host that
 * answers for it, or undefined when nobody does. Replies from dev's own MAC are ignored.
 */
export function arpProbe(ns: NetNs, dev: string, ip: string, opts: ArpProbeOptions = {}): string | undefined {
  validateIfName(dev, 'dev');
  const target = parseIp(ip, 'ip');
  if (target.family !== 4) throw new Error(`ip: ARP probes are IPv4 only, got ${ip}`);
  const retries = opts.retries ?? 3;
  const interval = opts.intervalMs ?? 100;
  if (!(Number.isInteger(retries) && retries >= 1 && retries <= 100)) throw new Error(`retries: invalid value ${retries}`);
  if (!(Number.isInteger(interval) && interval >= 1 && interval <= 60_000)) throw new Error(`intervalMs: invalid value ${interval}`);

  const rt = Rtnl.open(ns);
  let link;
  try {
    link = rt.link(dev);
  } finally {
    rt.close();
  }
  const op = `ARP probe for ${ip} on ${dev} in netns ${ns.path}`;
  if (!link) throw new KernelError(op, 19);
  const ownMac = parseMac(link.mac);

  const fd = withNetns(ns, () => libc.socket(AF_PACKET, libc.SOCK_DGRAM | libc.SOCK_CLOEXEC, htons(ETH_P_ARP)));
  if (fd < 0) throw new KernelError(`${op}: socket`, libc.errno());
  try {
    if (libc.bind(fd, sockaddrLl(link.index), 20) < 0) throw new KernelError(`${op}: bind`, libc.errno());
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(0n, 0);
    tv.writeBigInt64LE(20_000n, 8); // 20 ms slices, so the deadline below is honoured
    if (libc.setsockopt(fd, libc.SOL_SOCKET, libc.SO_RCVTIMEO, tv, 16) < 0) throw new KernelError(`${op}: SO_RCVTIMEO`, libc.errno());
    const req = arpRequest(ownMac, target.addr);
    const dst = sockaddrLl(link.index, Buffer.alloc(6, 0xff));
    const buf = Buffer.alloc(128);
    for (let i = 0; i < retries; i++) {
      if (libc.sendto(fd, req, req.length, 0, dst, dst.length) < 0) throw new KernelError(`${op}: sendto`, libc.errno());
      const deadline = Date.now() + interval;
      while (Date.now() < deadline) {
        const n = Number(libc.recv(fd, buf, buf.length, 0));
        if (n < 0) {
          const e = libc.errno();
          if (e === EAGAIN || e === libc.EINTR) continue;
          throw new KernelError(`${op}: recv`, e);
        }
        if (n < 28 || buf.readUInt16BE(2) !== 0x0800 || buf.readUInt16BE(6) !== ARPOP_REPLY) continue;
        const sha = buf.subarray(8, 14);
        if (buf.subarray(14, 18).equals(target.addr) && !sha.equals(ownMac)) return formatMac(Buffer.from(sha));
      }
    }
    return undefined;
  } finally {
    libc.close(fd);
  }
}
