// A listening TCP socket created inside another network namespace. The socket keeps that netns
// for life, so a process can accept connections in a namespace it does not run in: the lab uses
// it to make a Kubernetes API server on the host's loopback reachable from its node namespaces.
// The fd is handed to Node (net.Server.listen({ fd })), which owns it from then on.
import { isIPv6 } from 'node:net';
import * as libc from './libc';
import { KernelError } from './errors';
import { parseIp } from './ip';
import { NetNs, withNetns } from './netns';

function sockaddr(ip: string, port: number): Buffer {
  const { addr } = parseIp(ip);
  if (isIPv6(ip)) {
    const b = Buffer.alloc(28);
    b.writeUInt16LE(libc.AF_INET6, 0);
    b.writeUInt16BE(port, 2);
    addr.copy(b, 8);
    return b;
  }
  const b = Buffer.alloc(16);
  b.writeUInt16LE(libc.AF_INET, 0);
  b.writeUInt16BE(port, 2);
  addr.copy(b, 4);
  return b;
}

/** A listening socket on ip:port in `ns` (SO_REUSEADDR, backlog 128); returns its fd. */
export function listenTcpInNetns(ns: NetNs, ip: string, port: number): number {
  const sa = sockaddr(ip, port);
  return withNetns(ns, () => {
    const fd = libc.socket(isIPv6(ip) ? libc.AF_INET6 : libc.AF_INET, libc.SOCK_STREAM | libc.SOCK_CLOEXEC, 0);
    if (fd < 0) throw new KernelError(`creating a TCP socket in netns ${ns.path}`, libc.errno());
    try {
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      if (libc.setsockopt(fd, libc.SOL_SOCKET, libc.SO_REUSEADDR, one, 4) < 0) throw new KernelError(`SO_REUSEADDR on ${ip}:${port} in netns ${ns.path}`, libc.errno());
      if (libc.bind(fd, sa, sa.length) < 0) throw new KernelError(`binding ${ip}:${port} in netns ${ns.path}`, libc.errno());
      if (libc.listen(fd, 128) < 0) throw new KernelError(`listening on ${ip}:${port} in netns ${ns.path}`, libc.errno());
      return fd;
    } catch (e) {
      libc.close(fd);
      throw e;
    }
  });
}
