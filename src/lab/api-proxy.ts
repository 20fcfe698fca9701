// Makes a Kubernetes API server reachable from the lab's node namespaces, which have no route to
// the host (the lab runs nothing in the root netns): a listening socket is made inside each node
// netns on the API server's own address and port, and every connection accepted there is joined
// to a connection this process opens from the host. The URL in the kubeconfig stays valid (same
// address, same port, same TLS name), so daemons use the user's kubeconfig as it is.
import { createServer, connect, isIP, type Server, type Socket } from 'node:net';
import { NetNs, Rtnl, listenTcpInNetns } from '../kernel';

export interface ApiTarget {
  /** The API server's IP (resolved from the kubeconfig's server URL) and port. */
  ip: string;
  port: number;
}

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.');

/** Makes `ip` a local address of `ns` (lo up; a non-loopback address added to lo as a host route). */
function ensureLocal(ns: NetNs, ip: string): void {
  const rtnl = Rtnl.open(ns);
  try {
    rtnl.setUp('lo');
    if (isLoopback(ip)) return;
    const cidr = `${ip}/${isIP(ip) === 6 ? 128 : 32}`;
    if (!rtnl.addrs('lo').some((a) => a.cidr === cidr)) rtnl.addAddr('lo', cidr, isIP(ip) === 6 ? { noDad: true } : {});
  } finally {
    rtnl.close();
  }
}

export interface ApiProxy {
  close(): Promise<void>;
}

/** Listens on target.ip:target.port inside every netns in `netnsPaths`, forwarding to the target from here. */
export async function startApiProxy(target: ApiTarget, netnsPaths: string[], log: (s: string) => void = () => undefined): Promise<ApiProxy> {
  const servers: Server[] = [];
  const open = new Set<Socket>();
  const forward = (inbound: Socket) => {
    open.add(inbound);
    const outbound = connect({ host: target.ip, port: target.port });
    open.add(outbound);
    const done = () => {
      inbound.destroy();
      outbound.destroy();
      open.delete(inbound);
      open.delete(outbound);
    };
    inbound.on('error', done).on('close', done);
    outbound.on('error', (e) => {
      log(`api proxy: ${target.ip}:${target.port}: ${e.message}`);
      done();
    }).on('close', done);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  };
  try {
    for (const path of netnsPaths) {
      const ns = NetNs.open(path);
      let fd: number;
      try {
        ensureLocal(ns, target.ip);
        fd = listenTcpInNetns(ns, target.ip, target.port);
      } finally {
        ns.close();
      }
      const server = createServer(forward);
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ fd }, () => resolve());
      });
    }
  } catch (e) {
    for (const s of servers) s.close();
    throw e;
  }
  return {
    close: async () => {
      for (const s of open) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
