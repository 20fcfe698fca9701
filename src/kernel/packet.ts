/**
 * Raw Ethernet frame I/O on one interface: a non-blocking AF_PACKET/SOCK_RAW socket bound to it,
 * moving frames in batches with recvmmsg/sendmmsg over vectors built once per socket.
 *
 * Native memory, one set per (batch, frame size) for the whole process, shared by every socket:
 *   block 1: [ rx mmsghdr × batch | rx iovec × batch | tx iovec × batch | slots: batch × frameSize ]
 *   block 2: [ tx mmsghdr × batch ]  (recvmmsg/sendmmsg take the start of an allocation)
 * recv and send are synchronous and copy frames out (recv) or in (send) before returning, so a
 * slot is only ever in use by one call, of one socket: the scratch space can be shared. Per
 * socket it cost 2 MiB (32 slots of 64 KiB), which glibc zeroes page by page when it comes from
 * its heap rather than a fresh mmap: 1,500 wire sockets made meshnetd's RSS 1.4 GB (bench
 * wires1500); shared, it is the same 2 MiB for all.
 */
import * as libc from './libc';
import { KernelError } from './errors';
import { validateIfName } from './ip';
import { NetNs, withNetns } from './netns';
import { watchReadable } from './poll';

/** Size of struct virtio_net_hdr (no num_buffers): what PACKET_VNET_HDR prepends to each frame. */
export const VNET_HDR_LEN = 10;

export interface PacketSocketOptions {
  /** Create the socket inside this netns (via withNetns) and bind to `ifname` there, for life. */
  ns?: NetNs;
  /**
   * PACKET_VNET_HDR: every frame (received and sent) starts with a 10-byte virtio_net_hdr, so GSO
   * super-frames (up to ~64 KB) pass whole. Default false.
   */
  vnetHdr?: boolean;
  /** PACKET_IGNORE_OUTGOING: do not receive the frames this host sends on the interface. Default true. */
  ignoreOutgoing?: boolean;
  /** Frames per recvmmsg/sendmmsg call, 1..1024. Default 32. */
  batch?: number;
  /** Largest frame (including the vnet header) in bytes. Default 65536 + 10 with vnetHdr, else 9216 + 14. */
  frameSize?: number;
  /** SO_RCVBUFFORCE / SO_SNDBUFFORCE in bytes, falling back to SO_RCVBUF / SO_SNDBUF (best effort). */
  rcvbuf?: number;
  sndbuf?: number;
}

export interface PacketSocketStats {
  rxFrames: number;
  txFrames: number;
  rxBytes: number;
  txBytes: number;
  /** Frames longer than frameSize: dropped by recv() (their tail was already lost). */
  rxTruncated: number;
  /** Frames the kernel dropped because the receive buffer was full (PACKET_STATISTICS tp_drops, summed). */
  rxDropsKernel: number;
}

const MMSGHDR = 64; // struct mmsghdr on 64-bit Linux: msghdr (56) + msg_len (4) + padding
const IOVEC = 16; // struct iovec: iov_base, iov_len
const MSG_IOV = 16, MSG_IOVLEN = 24, MSG_FLAGS = 48, MSG_LEN = 56; // offsets within mmsghdr
const SO_ERROR = 4;
const ETH_HLEN = 14;
const MAX_BATCH = 1024; // UIO_MAXIOV: the kernel caps vlen here
const MAX_FRAME = 256 * 1024;

function intOpt(v: number | undefined, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`PacketSocket ${name}: expected an integer in ${min}..${max}, got ${v}`);
  return v;
}

function setIntOpt(fd: number, level: number, name: number, value: number): number {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  return libc.setsockopt(fd, level, name, b, 4) < 0 ? libc.errno() : 0;
}

/**
 * A raw Ethernet socket bound to one interface. Not thread-safe (nothing in Node is); one
 * onReadable watcher at a time. Frames are whole Ethernet frames (destination MAC first), preceded
 * by the 10-byte virtio_net_hdr when opened with vnetHdr.
 */
interface IoArena {
  rxHdrs: unknown;
  txHdrs: unknown;
  rxHdrView: Buffer;
  txIovView: Buffer;
  slots: Buffer;
}

const arenas = new Map<string, IoArena>();

/** The process's scratch vectors and slots for sockets of this batch and frame size (made once, kept). */
function arenaFor(batch: number, frameSize: number): IoArena {
  const key = `${batch}/${frameSize}`;
  const have = arenas.get(key);
  if (have) return have;
  const hdrBytes = batch * MMSGHDR;
  const iovBytes = 2 * batch * IOVEC;
  const total = hdrBytes + iovBytes + batch * frameSize;
  const mem = libc.allocBytes(total);
  let txMem: unknown;
  try {
    txMem = libc.allocBytes(hdrBytes);
  } catch (err) {
    libc.freeBytes(mem);
    throw err;
  }
  const base = libc.addressOf(mem);
  const all = libc.viewBytes(mem, total);
  const txHdrView = libc.viewBytes(txMem, hdrBytes);
  const a: IoArena = {
    rxHdrs: mem, txHdrs: txMem, rxHdrView: all.subarray(0, hdrBytes),
    txIovView: all.subarray(hdrBytes + batch * IOVEC, hdrBytes + iovBytes), slots: all.subarray(hdrBytes + iovBytes),
  };
  const rxIov = all.subarray(hdrBytes, hdrBytes + batch * IOVEC);
  const rxIovAddr = base + BigInt(hdrBytes);
  const txIovAddr = rxIovAddr + BigInt(batch * IOVEC);
  const slotsAddr = base + BigInt(hdrBytes + iovBytes);
  for (let i = 0; i < batch; i++) {
    const slot = slotsAddr + BigInt(i * frameSize);
    rxIov.writeBigUInt64LE(slot, i * IOVEC);
    rxIov.writeBigUInt64LE(BigInt(frameSize), i * IOVEC + 8);
    a.txIovView.writeBigUInt64LE(slot, i * IOVEC);
    a.txIovView.writeBigUInt64LE(0n, i * IOVEC + 8); // low 32 bits set per send
    const h = i * MMSGHDR; // msg_name and msg_control stay NULL (calloc): the bound address is used
    a.rxHdrView.writeBigUInt64LE(rxIovAddr + BigInt(i * IOVEC), h + MSG_IOV);
    a.rxHdrView.writeBigUInt64LE(1n, h + MSG_IOVLEN);
    txHdrView.writeBigUInt64LE(txIovAddr + BigInt(i * IOVEC), h + MSG_IOV);
    txHdrView.writeBigUInt64LE(1n, h + MSG_IOVLEN);
  }
  arenas.set(key, a);
  return a;
}

export class PacketSocket {
  readonly ifname: string;
  readonly ifindex: number;
  readonly vnetHdr: boolean;
  readonly batch: number;
  readonly frameSize: number;
  /** Where the socket lives, for messages: `veth0` or `veth0 in netns /var/run/netns/x`. */
  readonly where: string;
  #fd: number;
  /** The process's scratch vectors and slots for this batch and frame size (arenaFor). */
  readonly #io: IoArena;
  #stopPoll: (() => void) | undefined;
  #st: PacketSocketStats = { rxFrames: 0, txFrames: 0, rxBytes: 0, txBytes: 0, rxTruncated: 0, rxDropsKernel: 0 };
  #statBuf = Buffer.alloc(8);
  #rxError: KernelError | undefined;

  private constructor(ifname: string, ifindex: number, where: string, fd: number, vnetHdr: boolean, batch: number, frameSize: number) {
    this.ifname = ifname;
    this.ifindex = ifindex;
    this.where = where;
    this.vnetHdr = vnetHdr;
    this.batch = batch;
    this.frameSize = frameSize;
    this.#fd = fd;

    this.#io = arenaFor(batch, frameSize);
  }

  /**
   * Open a non-blocking AF_PACKET/SOCK_RAW socket receiving every protocol (ETH_P_ALL) on `ifname`
   * only. With opts.ns the socket is created in that netns and stays there. The interface may be
   * down: frames flow once it is up. Errors are KernelErrors naming the interface and netns
   * (ENODEV when it does not exist).
   */
  static open(ifname: string, opts: PacketSocketOptions = {}): PacketSocket {
    validateIfName(ifname, 'ifname');
    const vnetHdr = opts.vnetHdr ?? false;
    const batch = intOpt(opts.batch, 'batch', 1, MAX_BATCH, 32);
    const minFrame = (vnetHdr ? VNET_HDR_LEN : 0) + ETH_HLEN;
    const frameSize = intOpt(opts.frameSize, 'frameSize', minFrame, MAX_FRAME, vnetHdr ? 65536 + VNET_HDR_LEN : 9216 + ETH_HLEN);
    const rcvbuf = intOpt(opts.rcvbuf, 'rcvbuf', 1, 0x7fffffff, 0);
    const sndbuf = intOpt(opts.sndbuf, 'sndbuf', 1, 0x7fffffff, 0);
    const where = opts.ns ? `${ifname} in netns ${opts.ns.path}` : ifname;

    // Protocol 0: receive nothing until bind() attaches us to the one interface with ETH_P_ALL.
    const create = (): number => libc.socket(libc.AF_PACKET, libc.SOCK_RAW | libc.SOCK_NONBLOCK | libc.SOCK_CLOEXEC, 0);
    const fd = opts.ns ? withNetns(opts.ns, create) : create();
    if (fd < 0) throw new KernelError(`opening packet socket for ${where}`, libc.errno());
    try {
      // The socket's own netns resolves the name and the bind, wherever this thread is now.
      const ifr = Buffer.alloc(40);
      ifr.write(ifname, 0, 'utf8');
      if (libc.ioctlPtr(fd, libc.SIOCGIFINDEX, ifr) < 0) throw new KernelError(`looking up interface ${where}`, libc.errno());
      const ifindex = ifr.readInt32LE(16);

      if (vnetHdr) {
        const e = setIntOpt(fd, libc.SOL_PACKET, libc.PACKET_VNET_HDR, 1);
        if (e) throw new KernelError(`enabling PACKET_VNET_HDR on packet socket for ${where}`, e);
      }
      if (opts.ignoreOutgoing ?? true) {
        const e = setIntOpt(fd, libc.SOL_PACKET, libc.PACKET_IGNORE_OUTGOING, 1);
        if (e) throw new KernelError(`enabling PACKET_IGNORE_OUTGOING on packet socket for ${where}`, e);
      }
      if (rcvbuf && setIntOpt(fd, libc.SOL_SOCKET, libc.SO_RCVBUFFORCE, rcvbuf)) setIntOpt(fd, libc.SOL_SOCKET, libc.SO_RCVBUF, rcvbuf);
      if (sndbuf && setIntOpt(fd, libc.SOL_SOCKET, libc.SO_SNDBUFFORCE, sndbuf)) setIntOpt(fd, libc.SOL_SOCKET, libc.SO_SNDBUF, sndbuf);

      const sll = Buffer.alloc(20); // struct sockaddr_ll
      sll.writeUInt16LE(libc.AF_PACKET, 0);
      sll.writeUInt16BE(libc.ETH_P_ALL, 2); // network byte order
      sll.writeInt32LE(ifindex, 4);
      if (libc.bind(fd, sll, sll.length) < 0) throw new KernelError(`binding packet socket to ${where}`, libc.errno());
      // Binding to a down interface leaves ENETDOWN pending; it is not news to whoever opens now.
      const err = Buffer.alloc(4);
      libc.getsockopt(fd, libc.SOL_SOCKET, SO_ERROR, err, [4]);

      return new PacketSocket(ifname, ifindex, where, fd, vnetHdr, batch, frameSize);
    } catch (err) {
      libc.close(fd);
      throw err;
    }
  }

  /** The socket fd; -1 after close(). */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  #check(op: string): void {
    if (this.#fd < 0) throw new Error(`PacketSocket ${op} on ${this.where}: socket is closed`);
  }

  /**
   * Non-blocking batch receive: up to `max` frames (default: one batch), stopping early when none
   * are left. Frames are copies owned by the caller, valid after later calls and after close; the
   * frames of one batch share one ArrayBuffer, so keeping a single frame for long keeps its batch's
   * memory (Buffer.from(frame) it if that matters). Frames longer than frameSize are dropped
   * and counted in stats().rxTruncated. Throws KernelError for socket errors, e.g. ENETDOWN once when the interface goes down or is
   * deleted (later calls return [] until it is up again; a deleted interface never comes back).
   */
  recv(max: number = this.batch): Buffer[] {
    this.#check('recv');
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`PacketSocket recv on ${this.where}: max must be a non-negative integer, got ${max}`);
    if (this.#rxError) {
      const err = this.#rxError;
      this.#rxError = undefined;
      throw err;
    }
    const out: Buffer[] = [];
    const hdrs = this.#io.rxHdrView, slots = this.#io.slots, fs = this.frameSize;
    while (out.length < max) {
      const want = Math.min(this.batch, max - out.length);
      const before = out.length;
      const n = libc.recvmmsg(this.#fd, this.#io.rxHdrs, want, libc.MSG_DONTWAIT, null);
      if (n < 0) {
        const e = libc.errno();
        if (e === libc.EAGAIN || e === libc.EINTR) break;
        const err = new KernelError(`receiving frames on ${this.where}`, e);
        if (out.length === 0) throw err;
        this.#rxError = err; // the kernel reported it once: keep it for the next call, return what we have
        break;
      }
      // One allocation per batch, sized to what arrived; each frame is a Buffer over its part.
      // (Buffer.from(arrayBuffer, offset, length) is ~6x cheaper than allocUnsafe or subarray per frame.)
      let total = 0;
      for (let i = 0; i < n; i++) {
        if (hdrs.readInt32LE(i * MMSGHDR + MSG_FLAGS) & libc.MSG_TRUNC) continue;
        total += hdrs.readUInt32LE(i * MMSGHDR + MSG_LEN);
      }
      const block = total < 4096 ? Buffer.allocUnsafe(total) : Buffer.allocUnsafeSlow(total);
      const ab = block.buffer;
      let off = 0;
      for (let i = 0; i < n; i++) {
        const h = i * MMSGHDR;
        if (hdrs.readInt32LE(h + MSG_FLAGS) & libc.MSG_TRUNC) {
          this.#st.rxTruncated++;
          continue;
        }
        const len = hdrs.readUInt32LE(h + MSG_LEN);
        slots.copy(block, off, i * fs, i * fs + len);
        out.push(Buffer.from(ab, block.byteOffset + off, len));
        off += len;
      }
      this.#st.rxFrames += out.length - before;
      this.#st.rxBytes += total;
      if (n < want) break;
    }
    return out;
  }

  /**
   * Send whole frames with sendmmsg, a batch per call, in order. Returns how many were sent from the
   * front of `frames`; the caller keeps the rest. It stops early when the socket is full (EAGAIN) or
   * the device queue drops (ENOBUFS). Any other error ends the call: if some frames were already
   * sent, their count is returned (the next call meets the error first); if none were, it throws a
   * KernelError naming the frame and interface (EMSGSIZE for a frame over the MTU without vnetHdr,
   * EINVAL for a bad virtio_net_hdr, ENETDOWN, ENXIO when the interface is gone).
   */
  send(frames: readonly Buffer[]): number {
    this.#check('send');
    const fs = this.frameSize;
    const min = this.vnetHdr ? VNET_HDR_LEN + ETH_HLEN : ETH_HLEN;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      if (!Buffer.isBuffer(f) || f.length < min || f.length > fs) {
        throw new RangeError(`PacketSocket send on ${this.where}: frame ${i} must be a Buffer of ${min}..${fs} bytes, got ${Buffer.isBuffer(f) ? `${f.length} bytes` : typeof f}`);
      }
    }
    const iov = this.#io.txIovView, slots = this.#io.slots;
    let sent = 0;
    while (sent < frames.length) {
      const k = Math.min(this.batch, frames.length - sent);
      for (let i = 0; i < k; i++) {
        const f = frames[sent + i]!;
        f.copy(slots, i * fs);
        iov.writeUInt32LE(f.length, i * IOVEC + 8);
      }
      const n = libc.sendmmsg(this.#fd, this.#io.txHdrs, k, libc.MSG_DONTWAIT);
      if (n < 0) {
        const e = libc.errno();
        if (e === libc.EAGAIN || e === libc.ENOBUFS || e === libc.EINTR || sent > 0) break;
        const f = frames[sent]!;
        throw new KernelError(`sending frame ${sent} (${f.length} bytes) on ${this.where}`, e);
      }
      for (let i = 0; i < n; i++) this.#st.txBytes += frames[sent + i]!.length;
      this.#st.txFrames += n;
      sent += n;
      if (n < k) break;
    }
    return sent;
  }

  /**
   * Call `cb` whenever frames are waiting (or an error is pending); `cb` should drain with recv().
   * Level-triggered: while frames remain, `cb` runs again on the next event-loop turn. The watch keeps
   * the process alive and is held until stopped, so it is never collected. An exception thrown by
   * `cb` surfaces as an uncaught exception. One watcher per socket; returns an idempotent stop
   * function, and close() stops it too.
   */
  onReadable(cb: () => void): () => void {
    this.#check('onReadable');
    if (typeof cb !== 'function') throw new TypeError(`PacketSocket onReadable on ${this.where}: callback must be a function`);
    if (this.#stopPoll) throw new Error(`PacketSocket onReadable on ${this.where}: already watched; stop the previous watcher first`);
    const stopWatch = watchReadable(this.#fd, cb);
    const stop = (): void => {
      stopWatch();
      if (this.#stopPoll === stop) this.#stopPoll = undefined;
    };
    this.#stopPoll = stop;
    return stop;
  }

  /** Counters since open. rxDropsKernel is read from the kernel (PACKET_STATISTICS) while open. */
  stats(): PacketSocketStats {
    if (this.#fd >= 0) this.#readKernelDrops();
    return { ...this.#st };
  }

  /** PACKET_STATISTICS resets the kernel's counters on every read, so add them up here. */
  #readKernelDrops(): void {
    const len = [8];
    if (libc.getsockopt(this.#fd, libc.SOL_PACKET, libc.PACKET_STATISTICS, this.#statBuf, len) === 0) {
      this.#st.rxDropsKernel += this.#statBuf.readUInt32LE(4); // struct tpacket_stats { tp_packets, tp_drops }
    }
  }

  /** Stop polling and close the fd (the scratch memory is the process's, kept for the next socket). Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    this.#stopPoll?.();
    this.#readKernelDrops();
    libc.close(this.#fd);
    this.#fd = -1;
  }
}
