/**
 * A NETLINK_ROUTE socket: message framing, attribute encoding/decoding, request/ack and dumps.
 * Synchronous: the kernel answers rtnetlink requests inline, so a blocking recv() returns at once
 * (SO_RCVTIMEO bounds it anyway).
 */
import * as libc from './libc';
import { KernelError } from './errors';
import { NetNs, withNetns } from './netns';

export const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
const NLM_F_CAPPED = 0x100; // in NLMSG_ERROR replies
const NLM_F_ACK_TLVS = 0x200; // in NLMSG_ERROR replies
const NLMSGERR_ATTR_MSG = 1;

export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

const align4 = (n: number): number => (n + 3) & ~3;

/** Builds one netlink message: header, fixed family header, then attributes (nests allowed). */
export class MsgBuilder {
  private buf: Buffer;
  private len: number;

  constructor(type: number, flags: number, familyHeader: Buffer) {
    this.buf = Buffer.alloc(256);
    this.buf.writeUInt16LE(type, 4);
    this.buf.writeUInt16LE(flags | NLM_F_REQUEST, 6);
    this.len = NLMSG_HDRLEN;
    this.append(familyHeader);
  }

  private reserve(n: number): void {
    if (this.len + n + 4 <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n + 64));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  private append(data: Buffer): void {
    this.reserve(align4(data.length));
    data.copy(this.buf, this.len);
    this.len += align4(data.length);
  }

  attr(type: number, data: Buffer): this {
    const l = 4 + data.length;
    this.reserve(align4(l));
    this.buf.writeUInt16LE(l, this.len);
    this.buf.writeUInt16LE(type, this.len + 2);
    data.copy(this.buf, this.len + 4);
    this.buf.fill(0, this.len + l, this.len + align4(l));
    this.len += align4(l);
    return this;
  }

  u8(type: number, v: number): this {
    return this.attr(type, Buffer.from([v & 0xff]));
  }
  u16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return this.attr(type, b);
  }
  be16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return this.attr(type, b);
  }
  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return this.attr(type, b);
  }
  str(type: number, s: string): this {
    return this.attr(type, Buffer.from(`${s}\0`, 'utf8'));
  }
  /** A nested attribute; fn adds its children (or raw bytes via this.raw). */
  nest(type: number, fn: (b: this) => void): this {
    this.reserve(4);
    const start = this.len;
    // like iproute2, no NLA_F_NESTED flag: some policies (VETH_INFO_PEER) are not typed NLA_NESTED
    this.buf.writeUInt16LE(type, start + 2);
    this.len += 4;
    fn(this);
    this.buf.writeUInt16LE(this.len - start, start);
    return this;
  }
  /** Raw bytes inside a nest (e.g. the ifinfomsg of a veth peer). */
  raw(data: Buffer): this {
    this.append(data);
    return this;
  }

  finish(seq: number): Buffer {
    this.buf.writeUInt32LE(this.len, 0);
    this.buf.writeUInt32LE(seq >>> 0, 8);
    return this.buf.subarray(0, this.len);
  }
}

export type Attrs = Map<number, Buffer>;

/** Parse a run of attributes; later duplicates overwrite earlier ones. */
export function parseAttrs(buf: Buffer, start = 0, end = buf.length): Attrs {
  const out: Attrs = new Map();
  let off = start;
  while (off + 4 <= end) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (len < 4 || off + len > end) break;
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export const attrU32 = (a: Attrs, t: number): number | undefined => {
  const b = a.get(t);
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
};
export const attrStr = (a: Attrs, t: number): string | undefined => {
  const b = a.get(t);
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
};

/** One received message: type, flags, and its payload (family header + attributes). */
export interface NlMsg {
  type: number;
  flags: number;
  payload: Buffer;
}

const RECV_BUF = 128 * 1024;
/**
 * One receive buffer for every socket: a reply is received and copied out within one synchronous
 * call, so sockets never need it at the same time. One per socket was 128 KiB of native memory
 * per Rtnl.open; at thousands of opens between garbage collections glibc's heap grew by ~70 MB
 * (meshnetd's RSS; bench daemon-rss).
 */
const RBUF = Buffer.allocUnsafeSlow(RECV_BUF);
const MAX_DUMP_RETRIES = 5;

export class NetlinkSocket {
  #fd: number;
  private seq: number;
  private readonly kernelAddr = Buffer.alloc(12);
  /** Where the socket lives, for error messages. */
  readonly where: string;

  private constructor(fd: number, where: string) {
    this.#fd = fd;
    this.where = where;
    this.seq = (Date.now() & 0x7fffffff) >>> 0;
    this.kernelAddr.writeUInt16LE(libc.AF_NETLINK, 0);
  }

  /** Create the socket inside ns (it stays there for life). */
  static open(ns?: NetNs): NetlinkSocket {
    const where = ns ? `netns ${ns.path}` : 'current netns';
    const mk = (): number => {
      const fd = libc.socket(libc.AF_NETLINK, libc.SOCK_RAW | libc.SOCK_CLOEXEC, libc.NETLINK_ROUTE);
      if (fd < 0) throw new KernelError(`opening rtnetlink socket in ${where}`, libc.errno());
      return fd;
    };
    const fd = ns ? withNetns(ns, mk) : mk();
    try {
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      // best effort: extended ack messages and capped acks
      libc.setsockopt(fd, libc.SOL_NETLINK, libc.NETLINK_EXT_ACK, one, 4);
      libc.setsockopt(fd, libc.SOL_NETLINK, libc.NETLINK_CAP_ACK, one, 4);
      const tv = Buffer.alloc(16);
      tv.writeBigInt64LE(10n, 0); // 10 s receive timeout: a request never legitimately takes that long
      libc.setsockopt(fd, libc.SOL_SOCKET, libc.SO_RCVTIMEO, tv, 16);
      const sa = Buffer.alloc(12);
      sa.writeUInt16LE(libc.AF_NETLINK, 0);
      if (libc.bind(fd, sa, 12) < 0) throw new KernelError(`binding rtnetlink socket in ${where}`, libc.errno());
    } catch (err) {
      libc.close(fd);
      throw err;
    }
    return new NetlinkSocket(fd, where);
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  close(): void {
    if (this.#fd >= 0) {
      libc.close(this.#fd);
      this.#fd = -1;
    }
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    if (this.seq === 0) this.seq = 1;
    return this.seq;
  }

  private send(msg: MsgBuilder, op: string): number {
    if (this.#fd < 0) throw new Error(`${op}: rtnetlink socket is closed`);
    const seq = this.nextSeq();
    const data = msg.finish(seq); // koffi passes Buffer views at their byteOffset
    for (;;) {
      const n = libc.sendto(this.#fd, data, data.length, 0, this.kernelAddr, 12);
      if (n >= 0) return seq;
      const e = libc.errno();
      if (e !== libc.EINTR) throw new KernelError(`${op} (sending to rtnetlink)`, e);
    }
  }

  /** Receive one datagram; yields the messages in it. */
  private recvBatch(op: string): NlMsg[] & { seqs: number[] } {
    let n: number;
    for (;;) {
      n = libc.recv(this.#fd, RBUF, RECV_BUF, libc.MSG_TRUNC);
      if (n >= 0) break;
      const e = libc.errno();
      if (e !== libc.EINTR) throw new KernelError(`${op} (receiving from rtnetlink)`, e);
    }
    if (n > RECV_BUF) throw new Error(`${op}: rtnetlink reply of ${n} bytes truncated`);
    const out = [] as unknown as NlMsg[] & { seqs: number[] };
    out.seqs = [];
    // one copy per datagram (the receive buffer is shared); messages are views into it
    const data = Buffer.from(RBUF.subarray(0, n));
    let off = 0;
    while (off + NLMSG_HDRLEN <= n) {
      const len = data.readUInt32LE(off);
      if (len < NLMSG_HDRLEN || off + len > n) break;
      out.push({
        type: data.readUInt16LE(off + 4),
        flags: data.readUInt16LE(off + 6),
        payload: data.subarray(off + NLMSG_HDRLEN, off + len),
      });
      out.seqs.push(data.readUInt32LE(off + 8));
      off += align4(len);
    }
    return out;
  }

  /** Decode an NLMSG_ERROR / NLMSG_DONE payload: errno (0 = ack) and the extack message. */
  private static decodeError(m: NlMsg): { errno: number; detail?: string } {
    const err = m.payload.readInt32LE(0);
    let detail: string | undefined;
    if (m.type === NLMSG_ERROR && m.flags & NLM_F_ACK_TLVS) {
      // nlmsgerr: int error; struct nlmsghdr msg (+ payload unless capped); then TLVs
      let off = 4 + NLMSG_HDRLEN;
      if (!(m.flags & NLM_F_CAPPED) && m.payload.length >= off) off = 4 + align4(m.payload.readUInt32LE(4));
      if (off <= m.payload.length) detail = attrStr(parseAttrs(m.payload, off), NLMSGERR_ATTR_MSG);
    } else if (m.type === NLMSG_DONE && m.flags & NLM_F_ACK_TLVS) {
      detail = attrStr(parseAttrs(m.payload, 4), NLMSGERR_ATTR_MSG);
    }
    return detail ? { errno: -err, detail } : { errno: -err };
  }

  /** Send a request with NLM_F_ACK and wait for its ack. Throws KernelError on error. */
  request(msg: MsgBuilder, op: string): void {
    const seq = this.send(msg, op);
    for (;;) {
      const batch = this.recvBatch(op);
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i]!;
        if (batch.seqs[i] !== seq) continue; // stale reply of an earlier, abandoned request
        if (m.type === NLMSG_ERROR) {
          const { errno, detail } = NetlinkSocket.decodeError(m);
          if (errno !== 0) throw new KernelError(op, errno, detail);
          return;
        }
      }
    }
  }

  /** Send a dump request and collect every reply message of the given type. Retries an interrupted dump. */
  dump(build: () => MsgBuilder, replyType: number, op: string): Buffer[] {
    for (let attempt = 0; ; attempt++) {
      const seq = this.send(build(), op);
      const out: Buffer[] = [];
      let interrupted = false;
      let done = false;
      while (!done) {
        const batch = this.recvBatch(op);
        for (let i = 0; i < batch.length; i++) {
          const m = batch[i]!;
          if (batch.seqs[i] !== seq) continue;
          if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
          if (m.type === NLMSG_DONE) {
            const { errno, detail } = m.payload.length >= 4 ? NetlinkSocket.decodeError(m) : { errno: 0, detail: undefined };
            if (errno !== 0) throw new KernelError(op, errno, detail);
            done = true;
            break;
          }
          if (m.type === NLMSG_ERROR) {
            const { errno, detail } = NetlinkSocket.decodeError(m);
            if (errno !== 0) throw new KernelError(op, errno, detail);
            done = true;
            break;
          }
          if (m.type === replyType) out.push(m.payload);
        }
      }
      if (!interrupted || attempt >= MAX_DUMP_RETRIES) return out;
    }
  }

  /** Send a request that answers with one message (e.g. RTM_GETLINK by name). Undefined on the given errnos. */
  get(msg: MsgBuilder, replyType: number, op: string, missing: number[] = []): Buffer | undefined {
    const seq = this.send(msg, op);
    let result: Buffer | undefined;
    for (;;) {
      const batch = this.recvBatch(op);
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i]!;
        if (batch.seqs[i] !== seq) continue;
        if (m.type === NLMSG_ERROR) {
          const { errno, detail } = NetlinkSocket.decodeError(m);
          if (errno === 0) return result;
          if (missing.includes(errno)) return undefined;
          throw new KernelError(op, errno, detail);
        }
        if (m.type === replyType) {
          result = m.payload;
          if (!(m.flags & NLM_F_MULTI)) return result; // GET without ACK flag: the reply is the answer
        }
      }
    }
  }
}
