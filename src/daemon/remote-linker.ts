// RemoteLinker over meshnet's gRPC API: Remote.Update to the peer node's daemon, one client per
// peer node reused across calls. The gRPC stack is imported on first use, so the standalone
// plugin pays for loading it only when a pod has a cross-node link.
import type { RemoteEnd, RemoteEndRef, RemoteLinker } from '../plugins/meshnet/remote';

type GrpcModule = typeof import('../grpc');
type Client = ReturnType<GrpcModule['remoteClient']>;

export interface PooledLinker extends RemoteLinker {
  close(): void;
}

function linkerOver(load: () => Promise<GrpcModule>, port: number | undefined, timeoutMs: number): PooledLinker {
  const clients = new Map<string, Client>();
  const clientFor = async (nodeIp: string): Promise<Client> => {
    const grpc = await load();
    let c = clients.get(nodeIp);
    if (!c) {
      c = grpc.remoteClient(grpc.grpcAddress(nodeIp, port ?? grpc.MESHNET_GRPC_PORT), { timeoutMs });
      clients.set(nodeIp, c);
    }
    return c;
  };
  return {
    async update(nodeIp: string, end: RemoteEnd): Promise<void> {
      const c = await clientFor(nodeIp);
      const ok = await c.update({
        netNs: end.netNs, intfName: end.intfName, intfIp: end.intfIp, peerVtep: end.peerVtep,
        kubeNs: end.kubeNs, vni: BigInt(end.vni), nodeIntf: end.nodeIntf,
      });
      if (!ok) throw new Error(`meshnetd on node ${nodeIp} refused Remote.Update for ${end.intfName} (VNI ${end.vni})`);
    },
    async remove(nodeIp: string, ref: RemoteEndRef): Promise<boolean> {
      const c = await clientFor(nodeIp);
      return c.removeEnd({ netNs: ref.netNs, intfName: ref.intfName, vni: BigInt(ref.vni), peerVtep: ref.peerVtep });
    },
    close(): void {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}

export function grpcRemoteLinker(opts: { port?: number; timeoutMs?: number } = {}): PooledLinker {
  return linkerOver(() => import('../grpc'), opts.port, opts.timeoutMs ?? 5000);
}
