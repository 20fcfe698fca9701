/**
 * koffi bindings to libc: the only file that declares native functions.
 * Every function returns -1 (or a negative value) on failure; read koffi.errno() right after.
 */
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');

export const errno = (): number => koffi.errno();

// files
export const open = lib.func('int open(const char *path, int flags, ...)') as (
  path: string, flags: number, ...vararg: unknown[]
) => number;
const closeFn = lib.func('int close(int fd)');
export const close = closeFn as (fd: number) => number;
/**
 * close(2) on a libuv worker thread. Closing a packet socket waits for an RCU grace period
 * (~12 ms here) inside the kernel; off the event loop, many closes overlap instead of queueing.
 */
export function closeAsync(fd: number): Promise<number> {
  return new Promise((resolve, reject) => {
    (closeFn as unknown as { async: (fd: number, cb: (err: unknown, res: number) => void) => void })
      .async(fd, (err, res) => (err ? reject(err) : resolve(res)));
  });
}
export const unlink = lib.func('int unlink(const char *path)') as (path: string) => number;
export const flock = lib.func('int flock(int fd, int op)') as (fd: number, op: number) => number;

// namespaces and mounts
export const setns = lib.func('int setns(int fd, int nstype)') as (fd: number, nstype: number) => number;
export const unshare = lib.func('int unshare(int flags)') as (flags: number) => number;
export const mount = lib.func(
  'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)',
) as (source: string | null, target: string, fstype: string | null, flags: number, data: null) => number;
export const umount2 = lib.func('int umount2(const char *target, int flags)') as (target: string, flags: number) => number;
export const gettid = lib.func('int gettid()') as () => number;

// sockets
export const socket = lib.func('int socket(int domain, int type, int protocol)') as (
  domain: number, type: number, protocol: number,
) => number;
export const bind = lib.func('int bind(int fd, const void *addr, uint32_t len)') as (
  fd: number, addr: Buffer, len: number,
) => number;
export const listen = lib.func('int listen(int fd, int backlog)') as (fd: number, backlog: number) => number;
export const setsockopt = lib.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)') as (
  fd: number, level: number, name: number, val: Buffer, len: number,
) => number;
export const sendto = lib.func(
  'intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)',
) as (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer | null, addrlen: number) => number;
export const recv = lib.func('intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)') as (
  fd: number, buf: Buffer, len: number, flags: number,
) => number;

export const recvfrom = lib.func(
  'intptr_t recvfrom(int fd, _Out_ void *buf, size_t len, int flags, _Out_ void *addr, _Inout_ uint32_t *addrlen)',
) as (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number[]) => number;

export const getsockopt = lib.func('int getsockopt(int fd, int level, int name, _Inout_ void *val, _Inout_ uint32_t *len)') as (
  fd: number, level: number, name: number, val: Buffer, len: number[],
) => number;
/** Batch receive/send. `msgvec` is native memory from allocBytes (an array of struct mmsghdr). */
export const recvmmsg = lib.func('int recvmmsg(int fd, void *msgvec, unsigned int vlen, int flags, void *timeout)') as (
  fd: number, msgvec: unknown, vlen: number, flags: number, timeout: null,
) => number;
export const sendmmsg = lib.func('int sendmmsg(int fd, void *msgvec, unsigned int vlen, int flags)') as (
  fd: number, msgvec: unknown, vlen: number, flags: number,
) => number;

/** ioctl with a pointer argument (buffer is read and written in place). */
const ioctlV = lib.func('int ioctl(int fd, unsigned long req, ...)');
export function ioctlPtr(fd: number, req: number, arg: Buffer): number {
  return ioctlV(fd, req, 'void *', arg) as number;
}
/** ioctl with an integer argument passed by value (TUNSETPERSIST and friends). */
export function ioctlInt(fd: number, req: number, arg: number): number {
  return ioctlV(fd, req, 'unsigned long', arg) as number;
}

// raw memory, for structs that hold pointers (ifreq.ifr_data)
export function allocBytes(len: number): unknown {
  return koffi.alloc('uint8_t', len);
}
export function freeBytes(ptr: unknown): void {
  koffi.free(ptr);
}
export function addressOf(ptr: unknown): bigint {
  return koffi.address(ptr);
}
export function writeBytes(ptr: unknown, data: Buffer): void {
  new Uint8Array(koffi.view(ptr, data.length)).set(data);
}
/** A Buffer aliasing native memory from allocBytes: valid only until freeBytes(ptr); never hand it out. */
export function viewBytes(ptr: unknown, len: number): Buffer {
  return Buffer.from(koffi.view(ptr, len));
}
export function readBytes(ptr: unknown, len: number): Buffer {
  return Buffer.from(new Uint8Array(koffi.view(ptr, len)));
}

// constants (x86_64 / aarch64 Linux)
export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;
export const MS_BIND = 4096;
export const MS_REC = 16384;
export const MS_SHARED = 1 << 20;
export const MNT_DETACH = 2;
export const LOCK_EX = 2;
export const LOCK_UN = 8;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SO_REUSEADDR = 2;
export const AF_NETLINK = 16;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20;
export const SOL_NETLINK = 270;
export const NETLINK_ROUTE = 0;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const MSG_TRUNC = 0x20;
export const EINTR = 4;
export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const SIOCETHTOOL = 0x8946;
export const TUNSETIFF = 0x400454ca;
export const TUNSETPERSIST = 0x400454cb;
export const AF_PACKET = 17;
export const ETH_P_ALL = 0x0003;
export const SOCK_NONBLOCK = 0o4000;
export const SO_SNDBUF = 7;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SOL_PACKET = 263;
export const PACKET_STATISTICS = 6;
export const PACKET_VNET_HDR = 15;
export const PACKET_IGNORE_OUTGOING = 23;
export const MSG_DONTWAIT = 0x40;
export const EAGAIN = 11;
export const ENOBUFS = 105;
export const SIOCGIFINDEX = 0x8933;
