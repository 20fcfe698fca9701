/**
 * One AF_PACKET socket per netns for one ethertype on every interface of that netns: frames are
 * sent out of a chosen interface (sendto with its ifindex) and received with the interface they
 * arrived on (recvfrom's sockaddr_ll). What proving many address-less links needs: closing a
 * packet socket costs the kernel an RCU grace period (~12 ms here, synchronous), so one socket
 * per netns instead of two per link turns 1,500 links' proof from ~36 s of closes into two.
 */
import * as libc from './libc';
import { KernelError } from './errors';
import { type NetNs, withNetns } from './netns';

const SOCKADDR_LL = 20;
const MAX_FRAME = 2048;

function htons(v: number): number {
  return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
}

export interface ReceivedFrame {
  /** The interface (in the socket's netns) the frame arrived on. */
  ifindex: number;
  frame: Buffer;
}

export class EthertypeSocket {
  #fd: number;
  readonly #rx = Buffer.alloc(MAX_FRAME);
  readonly #from = Buffer.alloc(SOCKADDR_LL);
  readonly #fromLen = [SOCKADDR_LL];
  readonly #to = Buffer.alloc(SOCKADDR_LL);

  private constructor(fd: number, readonly ethertype: number, readonly where: string) {
    this.#fd = fd;
    this.#to.writeUInt16LE(libc.AF_PACKET, 0);
    this.#to.writeUInt16BE(ethertype, 2);
    this.#to.writeUInt8(6, 11); // sll_halen: the destination is taken from the frame itself
  }

  /**
   * Opens the socket inside `ns` (or the caller's netns), receiving only `ethertype` frames, none
   * this host sends (PACKET_IGNORE_OUTGOING). `rcvbuf` bytes of queue (SO_RCVBUFFORCE) let a burst
   * of frames wait until read.
   */
  static open(ethertype: number, opts: { ns?: NetNs; rcvbuf?: number } = {}): EthertypeSocket {
    if (!Number.isInteger(ethertype) || ethertype < 0x600 || ethertype > 0xffff) throw new RangeError(`EthertypeSocket ethertype: expected 0x0600..0xffff, got ${ethertype}`);
    const where = opts.ns ? `netns ${opts.ns.path}` : 'this netns';
    const create = (): number => libc.socket(libc.AF_PACKET, libc.SOCK_RAW | libc.SOCK_NONBLOCK | libc.SOCK_CLOEXEC, htons(ethertype));
    const fd = opts.ns ? withNetns(opts.ns, create) : create();
    if (fd < 0) throw new KernelError(`opening a packet socket in ${where}`, libc.errno());
    const one = Buffer.alloc(4);
    one.writeInt32LE(1, 0);
    if (libc.setsockopt(fd, libc.SOL_PACKET, libc.PACKET_IGNORE_OUTGOING, one, 4) < 0) {
      const e = libc.errno();
      libc.close(fd);
      throw new KernelError(`enabling PACKET_IGNORE_OUTGOING in ${where}`, e);
    }
    if (opts.rcvbuf) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(opts.rcvbuf, 0);
      if (libc.setsockopt(fd, libc.SOL_SOCKET, libc.SO_RCVBUFFORCE, b, 4) < 0) libc.setsockopt(fd, libc.SOL_SOCKET, libc.SO_RCVBUF, b, 4);
    }
    return new EthertypeSocket(fd, ethertype, where);
  }

  /** Sends one whole Ethernet frame out of interface `ifindex`; false when the queue is full (ENOBUFS/EAGAIN). */
  send(ifindex: number, frame: Buffer): boolean {
    if (this.#fd < 0) throw new Error(`EthertypeSocket in ${this.where} is closed`);
    this.#to.writeInt32LE(ifindex, 4);
    if (libc.sendto(this.#fd, frame, frame.length, 0, this.#to, SOCKADDR_LL) >= 0) return true;
    const e = libc.errno();
    if (e === libc.EAGAIN || e === libc.ENOBUFS) return false;
    throw new KernelError(`sending a frame on ifindex ${ifindex} in ${this.where}`, e);
  }

  /** Every frame waiting now, with the interface each arrived on (never blocks). */
  recv(): ReceivedFrame[] {
    if (this.#fd < 0) throw new Error(`EthertypeSocket in ${this.where} is closed`);
    const out: ReceivedFrame[] = [];
    for (;;) {
      this.#fromLen[0] = SOCKADDR_LL;
      const n = Number(libc.recvfrom(this.#fd, this.#rx, this.#rx.length, libc.MSG_DONTWAIT, this.#from, this.#fromLen));
      if (n < 0) {
        const e = libc.errno();
        if (e === libc.EAGAIN || e === libc.EINTR) return out;
        throw new KernelError(`receiving frames in ${this.where}`, e);
      }
      out.push({ ifindex: this.#from.readInt32LE(4), frame: Buffer.from(this.#rx.subarray(0, Math.min(n, this.#rx.length))) });
    }
  }

  close(): void {
    if (this.#fd < 0) return;
    libc.close(this.#fd);
    this.#fd = -1;
  }

  /** close() off the event loop (see libc.closeAsync): many sockets close in parallel. */
  async closeAsync(): Promise<void> {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    await libc.closeAsync(fd);
  }
}
