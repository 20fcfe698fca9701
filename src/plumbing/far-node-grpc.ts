// RemoteLinker over meshnet's gRPC API: Remote.Update to the peer node's daemon, one client per
// peer node reused across calls (PeerClients, shared with the wire linker). The gRPC stack is
// imported on first use, so the standalone plugin pays for loading it only when a pod has a
// cross-node link.
import type { RemoteEnd, RemoteEndRef, RemoteLinker } from './far-node';

type GrpcModule = typeof import('../grpc');
export type PeerClient = ReturnType<GrpcModule['remoteClient']>;

/** One Remote client per peer node, created on first use. */
export class PeerClients {
  private readonly clients = new Map<string, PeerClient>();

  /** `tls`: dial peers with mTLS (meshnetd --peer-tls require); plaintext without it. */
  constructor(private readonly port: number | undefined, private readonly timeoutMs = 5000, private readonly tls?: import('../grpc').TlsMaterial) {}

  async get(nodeIp: string): Promise<PeerClient> {
    const grpc = await import('../grpc');
    let c = this.clients.get(nodeIp);
    if (!c) {
      c = grpc.remoteClient(grpc.grpcAddress(nodeIp, this.port ?? grpc.MESHNET_GRPC_PORT), { timeoutMs: this.timeoutMs, ...(this.tls ? { tls: this.tls } : {}) });
      this.clients.set(nodeIp, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

export interface PooledLinker extends RemoteLinker {
  close(): void;
}

export function grpcRemoteLinker(opts: { port?: number; timeoutMs?: number; peers?: PeerClients } = {}): PooledLinker {
  const peers = opts.peers ?? new PeerClients(opts.port, opts.timeoutMs);
  return {
    async update(nodeIp: string, end: RemoteEnd): Promise<void> {
      const ok = await (await peers.get(nodeIp)).update({
        netNs: end.netNs, intfName: end.intfName, intfIp: end.intfIp, peerVtep: end.peerVtep,
        kubeNs: end.kubeNs, vni: BigInt(end.vni), nodeIntf: end.nodeIntf,
      });
      if (!ok) throw new Error(`meshnetd on node ${nodeIp} refused Remote.Update for ${end.intfName} (VNI ${end.vni})`);
    },
    async remove(nodeIp: string, ref: RemoteEndRef): Promise<boolean> {
      return (await peers.get(nodeIp)).removeEnd({ netNs: ref.netNs, intfName: ref.intfName, vni: BigInt(ref.vni), peerVtep: ref.peerVtep });
    },
    close(): void {
      peers.close();
    },
  };
}
