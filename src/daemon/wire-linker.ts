// WireLinker for meshnetd: this node's end goes into the local dataplane, the far end is asked of
// the peer node's daemon with upstream's Remote.AddGRPCWireRemote (WireDef carries the SENDER's
// wire id and describes the pod on the RECEIVING node), and removed with GRPCWireDownRemote.
import type { WireDef } from '../grpc';
import type { WireLinker, WireSide } from '../plugins/meshnet/remote';
import type { WireDataplane } from '../wire/dataplane';
import { wireId } from '../wire/ids';
import type { PeerClients } from './remote-linker';

const idOf = (s: WireSide) => wireId(s.namespace, s.pod, s.intf);

function wireDef(local: WireSide, peer: WireSide, uid: number): WireDef {
  return {
    wireIfIdOnPeerNode: idOf(local), peerNodeIp: local.node, intfNameInPod: peer.intf, localPodNetNs: peer.netns,
    linkUid: BigInt(uid), localPodName: peer.pod, wireIfNameOnLocalNode: '', topoNs: peer.namespace, localPodIp: peer.ip ?? '',
  };
}

export function daemonWireLinker(dataplane: WireDataplane, peers: PeerClients): WireLinker {
  return {
    async connect(local, peer, uid) {
      const id = idOf(local);
      // Our peers derive the same id for their end; an upstream peer answers its own in peerIntfId.
      dataplane.addEnd({ id, peerNode: peer.node, peerId: idOf(peer), podNetns: local.netns, podIntf: local.intf, ...(local.ip ? { podIp: local.ip } : {}) });
      const r = await (await peers.get(peer.node)).addGrpcWireRemote(wireDef(local, peer, uid));
      if (!r.response) throw new Error(`meshnetd on node ${peer.node} refused AddGRPCWireRemote for ${peer.pod}:${peer.intf}`);
      const peerId = BigInt(r.peerIntfId);
      if (peerId !== idOf(peer)) dataplane.setPeerId(id, peerId);
    },
    async disconnect(local, peer) {
      dataplane.removeEnd(idOf(local));
      await (await peers.get(peer.node)).grpcWireDownRemote(wireDef(local, peer, 0));
    },
  };
}

/** Remote handlers for the far side: make or remove this node's end of a wire a peer asked for. */
export function wireRemoteHandlers(dataplane: WireDataplane, log: (s: string) => void) {
  return {
    addGrpcWireRemote: (req: WireDef) => {
      const id = wireId(req.topoNs, req.localPodName, req.intfNameInPod);
      dataplane.addEnd({
        id, peerNode: req.peerNodeIp, peerId: req.wireIfIdOnPeerNode, podNetns: req.localPodNetNs, podIntf: req.intfNameInPod,
        ...(req.localPodIp ? { podIp: req.localPodIp } : {}),
      });
      log(`AddGRPCWireRemote from ${req.peerNodeIp}: ${req.topoNs}/${req.localPodName}:${req.intfNameInPod} wire ${id} <-> ${req.wireIfIdOnPeerNode}`);
      return { response: true, peerIntfId: id };
    },
    grpcWireDownRemote: (req: WireDef) => {
      const removed = dataplane.removeEnd(wireId(req.topoNs, req.localPodName, req.intfNameInPod));
      log(`GRPCWireDownRemote from ${req.peerNodeIp}: ${req.topoNs}/${req.localPodName}:${req.intfNameInPod}: ${removed ? 'removed' : 'not here'}`);
      return true;
    },
  };
}
