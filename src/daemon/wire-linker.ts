// WireLinker for meshnetd: this node's end goes into the local dataplane, the far end is asked of
// the peer node's daemon with upstream's Remote.AddGRPCWireRemote (WireDef carries the SENDER's
// wire id and describes the pod on the RECEIVING node), and removed with GRPCWireDownRemote.
// Every end this node holds is recorded in its GWireKObj, so a restarted daemon can reattach.
import { isIP } from '../cni';
import { GrpcStatusError, type CallContext, type WireDef, Status } from '../grpc';
import { NetNs, Rtnl, netnsPathExists } from '../kernel';
import type { WireLinker, WireSide } from '../plumbing/far-node';
import { PodGoneError } from '../plumbing/far-end';
import { impairmentOf, isValidIfName } from '../topology';
import type { WireDataplane, WireEndSpec } from '../wire/dataplane';
import { wireHostIntf, wireId } from '../wire/ids';
import type { GWireItem, WireRecords } from '../wire/records';
import type { PeerClients } from '../plumbing/far-node-grpc';
import { PermissionDenied, type PeerAuthorizer } from './peer-auth';
import type { Logger } from '../log';

const idOf = (s: WireSide) => wireId(s.namespace, s.pod, s.intf);

function wireDef(local: WireSide, peer: WireSide, uid: number): WireDef {
  return {
    wireIfIdOnPeerNode: idOf(local), peerNodeIp: local.node, intfNameInPod: peer.intf, localPodNetNs: peer.netns,
    linkUid: BigInt(uid), localPodName: peer.pod, wireIfNameOnLocalNode: '', topoNs: peer.namespace, localPodIp: peer.ip ?? '',
  };
}

/** The GWireKObj item of one end held by this node. */
function item(nodeName: string, e: { ns: string; pod: string; uid: number; spec: WireEndSpec }): GWireItem {
  if (e.spec.peerId > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`peer wire id ${e.spec.peerId} is over 2^53-1: GWireKObj cannot record it exactly as a JSON integer`);
  }
  return {
    node_name: nodeName, link_id: e.uid, topo_namespace: e.ns, local_pod_net_ns: e.spec.podNetns, local_pod_name: e.pod,
    local_pod_ip: e.spec.podIp ?? '', local_pod_iface_name: e.spec.podIntf, wire_iface_name_on_local_node: e.spec.hostIntf ?? wireHostIntf(e.spec.id),
    // int64 in the CRD: a JSON integer (our ids fit 53 bits; an upstream peer's are counters).
    wire_iface_id_on_peer_node: Number(e.spec.peerId), gwire_peer_node_ip: e.spec.peerNode,
  };
}

export function daemonWireLinker(dataplane: WireDataplane, peers: PeerClients, records: WireRecords, nodeName: string): WireLinker {
  return {
    async connect(local, peer, uid) {
      const spec: WireEndSpec = {
        id: idOf(local), peerNode: peer.node, peerId: idOf(peer), podNetns: local.netns, podIntf: local.intf, ...(local.ip ? { podIp: local.ip } : {}),
        pod: { namespace: local.namespace, name: local.pod }, linkUid: uid, ...(local.mtu ? { mtu: local.mtu } : {}),
      };
      // Our peers derive the same id for their end; an upstream peer answers its own in peerIntfId.
      const kept = dataplane.endOn(spec.podNetns, spec.podIntf)?.id === spec.id;
      dataplane.addEnd(spec);
      let r;
      try {
        r = await (await peers.get(peer.node)).addGrpcWireRemote(wireDef(local, peer, uid));
        if (!r.response) throw new Error(`meshnetd on node ${peer.node} refused AddGRPCWireRemote for ${peer.pod}:${peer.intf}`);
      } catch (e) {
        // No half wire: without its far end this end must go too, so that a retry (the runtime's,
        // or the reconciler's, which plumbs a wire only where this end is missing or waits for
        // its far pod) makes both. An end that was waiting for its far pod goes back to waiting:
        // the pod keeps its interface.
        if (kept) dataplane.farPodGone(spec.id);
        else dataplane.removeEnd(spec.id);
        throw e;
      }
      const peerId = BigInt(r.peerIntfId);
      if (peerId !== spec.peerId) dataplane.setPeerId(spec.id, peerId);
      await records.upsert(item(nodeName, { ns: local.namespace, pod: local.pod, uid, spec: { ...spec, peerId } }));
    },
    async forgetPod(namespace, name) {
      await forgetPodWires(dataplane, records, namespace, name);
    },
    detachPod(namespace, name) {
      const hosts = dataplane.endsOfPod(namespace, name).map((e) => dataplane.detachEnd(e.id)).filter((h): h is string => h !== undefined);
      return {
        sweep() {
          if (hosts.length === 0) return;
          const node = Rtnl.open();
          try {
            for (const h of hosts) node.deleteLink(h); // gone with the pod's links: ENODEV, quietly
          } finally {
            node.close();
          }
        },
      };
    },
    async disconnect(local, peer, uid) {
      dataplane.removeEnd(idOf(local));
      await records.remove({ topo_namespace: local.namespace, local_pod_name: local.pod, local_pod_iface_name: local.intf });
      // The real uid: an upstream peer finds its end by (netns, link_uid), so 0 could hit another wire.
      await (await peers.get(peer.node)).grpcWireDownRemote(wireDef(local, peer, uid));
    },
  };
}

/** Remote handlers for the far side: make or remove this node's end of a wire a peer asked for. */
export function wireRemoteHandlers(dataplane: WireDataplane, records: WireRecords, nodeName: string, log: Logger, auth?: PeerAuthorizer, defaultMtu?: number,
  /** An end of this pod was held down for its far pod: its reconciler checks that against the store soon. */
  onFarGone?: (pod: { namespace: string; name: string }) => void) {
  const addRemote = async (req: WireDef, call: CallContext) => {
    const link = await auth?.wireAdd(req, call);
    if (!netnsPathExists(req.localPodNetNs)) {
      throw new GrpcStatusError(Status.FAILED_PRECONDITION, new PodGoneError(req.localPodNetNs, `${req.topoNs || 'default'}/${req.localPodName}`).message);
    }
    const spec: WireEndSpec = {
      id: wireId(req.topoNs, req.localPodName, req.intfNameInPod), peerNode: req.peerNodeIp, peerId: req.wireIfIdOnPeerNode,
      podNetns: req.localPodNetNs, podIntf: req.intfNameInPod, ...(req.localPodIp ? { podIp: req.localPodIp } : {}),
      pod: { namespace: req.topoNs, name: req.localPodName }, linkUid: Number(req.linkUid),
      // The request carries no MTU (upstream's WireDef): this pod's Topology says it, else --mtu.
      ...(link?.mtu ?? defaultMtu ? { mtu: link?.mtu ?? defaultMtu } : {}),
    };
    dataplane.addEnd(spec);
    // A pulled cable (this pod's half says state: down) stays pulled on a re-made wire.
    if (link?.state === 'down') dataplane.setPulled(spec.id, true);
    const impairment = link && impairmentOf(link);
    if (impairment) dataplane.setImpairment(spec.id, impairment);
    await records.upsert(item(nodeName, { ns: req.topoNs, pod: req.localPodName, uid: Number(req.linkUid), spec }));
    // The pod's DEL may have run meanwhile (peer requests do not wait for CNI calls): an end
    // made for a pod that is gone is undone, or its record would outlive it (storm test).
    if (auth && !(await auth.stillHere(req.topoNs || 'default', req.localPodName, req.localPodNetNs))) {
      dataplane.removeEnd(spec.id);
      await records.remove({ topo_namespace: req.topoNs, local_pod_name: req.localPodName, local_pod_iface_name: req.intfNameInPod });
      throw new GrpcStatusError(Status.FAILED_PRECONDITION, `pod ${req.topoNs}/${req.localPodName} was deleted while its wire end was being made`);
    }
    log.info(`AddGRPCWireRemote from ${req.peerNodeIp}: ${req.topoNs}/${req.localPodName}:${req.intfNameInPod} wire ${spec.id} <-> ${req.wireIfIdOnPeerNode}`);
    return { response: true, peerIntfId: spec.id };
  };
  const handlers = {
    addGrpcWireRemote: async (req: WireDef, call: CallContext) => {
      try {
        return await addRemote(req, call);
      } catch (e) {
        // The caller sees the error; this node's log says what it refused, too (refusals of an
        // unauthorized peer are the authorizer's to log, rate-limited).
        if (!(e instanceof PermissionDenied)) log.warn(`AddGRPCWireRemote from ${req.peerNodeIp}: ${req.topoNs}/${req.localPodName}:${req.intfNameInPod} refused: ${(e as Error).message}`);
        throw e;
      }
    },
    grpcWireDownRemote: async (req: WireDef, call: CallContext) => {
      const id = wireId(req.topoNs, req.localPodName, req.intfNameInPod);
      const end = dataplane.findEnds((e) => e.id === id)[0];
      auth?.wireDown(end?.peerNode, call);
      // The far pod is gone but this pod still lists the link: its interface stays, NO-CARRIER,
      // until the far pod is back (the end and its record are kept for that).
      if (end && auth?.stillListed(req.topoNs || 'default', req.localPodName, end.podNetns, req.intfNameInPod)) {
        dataplane.farPodGone(id);
        onFarGone?.({ namespace: req.topoNs || 'default', name: req.localPodName });
        log.info(`GRPCWireDownRemote from ${req.peerNodeIp}: ${req.topoNs}/${req.localPodName}:${req.intfNameInPod}: far pod gone, NO-CARRIER until it is back`);
        return true;
      }
      const removed = dataplane.removeEnd(id);
      // Without an end here the record (if any) is not this caller's to judge: restore drops
      // records whose end is gone.
      if (removed || !auth) await records.remove({ topo_namespace: req.topoNs, local_pod_name: req.localPodName, local_pod_iface_name: req.intfNameInPod });
      log.info(`GRPCWireDownRemote from ${req.peerNodeIp}: ${req.topoNs}/${req.localPodName}:${req.intfNameInPod}: ${removed ? 'removed' : 'not here'}`);
      return true;
    },
    /**
     * KNE's controller creates wires in batches, with no fallback to the single call: one result
     * per item, in order; an item that fails answers response false (with the sender's id) and
     * does not stop the others.
     */
    addGrpcWiresRemoteBatch: async (items: WireDef[], call: CallContext) => {
      const out: { response: boolean; peerIntfId: bigint }[] = [];
      for (const item of items) {
        try {
          out.push(await handlers.addGrpcWireRemote(item, call));
        } catch (e) {
          log.warn(`AddGRPCWiresRemoteBatch from ${item.peerNodeIp}: ${item.topoNs}/${item.localPodName}:${item.intfNameInPod} failed: ${(e as Error).message}`);
          out.push({ response: false, peerIntfId: item.wireIfIdOnPeerNode });
        }
      }
      return out;
    },
  };
  return handlers;
}

/**
 * At start: no records for this node means a first start; records mean a restart, and each
 * recorded end whose veth survived is relayed again (no pod is touched); ends whose pod or
 * veth is gone are dropped from the records.
 */
export async function restoreWires(dataplane: WireDataplane, records: WireRecords, log: Logger): Promise<number> {
  const items = await records.list();
  if (items.length === 0) {
    log.info('wires: first start (no GWireKObj records for this node)');
    return 0;
  }
  let restored = 0;
  for (const i of items) {
    let id = wireId(i.topo_namespace, i.local_pod_name, i.local_pod_iface_name);
    // An end upstream's Go plugin made (AddGRPCWireLocal): its host end has its own name, and its
    // id, as the peer knows it, is that interface's index.
    const foreign = i.wire_iface_name_on_local_node && i.wire_iface_name_on_local_node !== wireHostIntf(id) ? i.wire_iface_name_on_local_node : undefined;
    if (foreign) {
      const index = hostIfindex(foreign);
      if (index === undefined) { await records.remove(i); continue; }
      id = BigInt(index);
    }
    const spec: WireEndSpec = {
      id, peerNode: i.gwire_peer_node_ip,
      peerId: BigInt(i.wire_iface_id_on_peer_node), podNetns: i.local_pod_net_ns, podIntf: i.local_pod_iface_name,
      ...(i.local_pod_ip ? { podIp: i.local_pod_ip } : {}),
      pod: { namespace: i.topo_namespace, name: i.local_pod_name }, linkUid: i.link_id, ...(foreign ? { hostIntf: foreign } : {}),
    };
    if (dataplane.attachEnd(spec)) restored++;
    else await records.remove(i);
  }
  log.info(`wires: restart: restored ${restored} of ${items.length} recorded wire ends`);
  return restored;
}

/** The index of an interface in this (the node's) netns, or undefined. */
function hostIfindex(name: string): number | undefined {
  const rt = Rtnl.open();
  try {
    return rt.link(name)?.index;
  } finally {
    rt.close();
  }
}

/** Fields of a WireDef from upstream's Go plugin, checked (named as on the wire) before anything is touched. */
function checkLocalWireDef(req: WireDef, fields: ('wire_if_name_on_local_node' | 'intf_name_in_pod' | 'local_pod_net_ns' | 'peer_node_ip' | 'wire_if_id_on_peer_node')[]): void {
  const bad = (f: string, why: string) => new GrpcStatusError(Status.INVALID_ARGUMENT, `WireDef.${f}: ${why}`);
  for (const f of fields) {
    if (f === 'wire_if_name_on_local_node' && !isValidIfName(req.wireIfNameOnLocalNode)) throw bad(f, `${JSON.stringify(req.wireIfNameOnLocalNode)} is not an interface name`);
    if (f === 'intf_name_in_pod' && !isValidIfName(req.intfNameInPod)) throw bad(f, `${JSON.stringify(req.intfNameInPod)} is not an interface name`);
    if (f === 'local_pod_net_ns' && (!req.localPodNetNs.startsWith('/') || !netnsPathExists(req.localPodNetNs))) throw bad(f, `${JSON.stringify(req.localPodNetNs)} is not a network namespace on this node`);
    if (f === 'peer_node_ip' && !isIP(req.peerNodeIp)) throw bad(f, `${JSON.stringify(req.peerNodeIp)} is not an IP address`);
    if (f === 'wire_if_id_on_peer_node' && req.wireIfIdOnPeerNode <= 0n) throw bad(f, `${req.wireIfIdOnPeerNode} is not a wire id`);
  }
}

/**
 * The Local service's wire methods, which upstream's Go plugin calls (our plugin runs inside the
 * daemon and needs none of them). Upstream's plugin makes the veth itself (pod end, host end named
 * by GenerateNodeInterfaceName), tells the peer the host end's ifindex as this node's id, then
 * asks us to relay it: AddGRPCWireLocal. GRPCWireExists finds a wire by (pod netns, link uid);
 * RemGRPCWire removes every wire of a pod.
 */
export function localWireHandlers(dataplane: WireDataplane, records: WireRecords, nodeName: string, log: Logger) {
  return {
    grpcWireExists: async (req: WireDef) => {
      const [end] = dataplane.findEnds((e) => e.podNetns === req.localPodNetNs && e.linkUid === Number(req.linkUid));
      return end ? { response: true, peerIntfId: end.peerId } : { response: false, peerIntfId: req.wireIfIdOnPeerNode };
    },
    addGrpcWireLocal: async (req: WireDef) => {
      checkLocalWireDef(req, ['wire_if_name_on_local_node', 'intf_name_in_pod', 'local_pod_net_ns', 'peer_node_ip', 'wire_if_id_on_peer_node']);
      const index = hostIfindex(req.wireIfNameOnLocalNode);
      if (index === undefined) throw new GrpcStatusError(Status.INVALID_ARGUMENT, `WireDef.wire_if_name_on_local_node: ${req.wireIfNameOnLocalNode} does not exist on this node (the plugin makes the veth first)`);
      const ns = NetNs.open(req.localPodNetNs);
      const pod = Rtnl.open(ns);
      try {
        if (!pod.link(req.intfNameInPod)) throw new GrpcStatusError(Status.INVALID_ARGUMENT, `WireDef.intf_name_in_pod: ${req.intfNameInPod} does not exist in ${req.localPodNetNs}`);
      } finally {
        pod.close();
        ns.close();
      }
      const spec: WireEndSpec = {
        id: BigInt(index), peerNode: req.peerNodeIp, peerId: req.wireIfIdOnPeerNode, podNetns: req.localPodNetNs, podIntf: req.intfNameInPod,
        ...(req.localPodIp ? { podIp: req.localPodIp } : {}), pod: { namespace: req.topoNs, name: req.localPodName }, linkUid: Number(req.linkUid),
        hostIntf: req.wireIfNameOnLocalNode,
      };
      dataplane.attachEnd(spec);
      await records.upsert(item(nodeName, { ns: req.topoNs, pod: req.localPodName, uid: Number(req.linkUid), spec }));
      log.info(`AddGRPCWireLocal: ${req.topoNs}/${req.localPodName}:${req.intfNameInPod} via ${req.wireIfNameOnLocalNode} (wire ${index} <-> ${req.wireIfIdOnPeerNode} on ${req.peerNodeIp})`);
      return true;
    },
    remGrpcWire: async (req: WireDef) => {
      const ends = dataplane.endsOfPod(req.topoNs, req.localPodName);
      for (const e of ends) {
        dataplane.removeEnd(e.id);
        await records.remove({ topo_namespace: req.topoNs, local_pod_name: req.localPodName, local_pod_iface_name: e.podIntf });
      }
      log.info(`RemGRPCWire: ${req.topoNs}/${req.localPodName}: ${ends.length} wire end(s) removed`);
      return true;
    },
  };
}

/**
 * Removes what this node still holds for a pod that no longer runs here (deleted, moved, or its
 * sandbox gone): its wire ends and its GWireKObj records. A DEL removes them itself; this catches
 * what a DEL interrupted by a daemon kill, or a peer request racing the DEL, left behind. Returns
 * what it removed, for the log.
 */
export async function forgetPodWires(dataplane: WireDataplane, records: WireRecords, namespace: string, name: string): Promise<string[]> {
  const removed: string[] = [];
  for (const e of dataplane.endsOfPod(namespace, name)) {
    dataplane.removeEnd(e.id);
    removed.push(`wire end ${e.podIntf}`);
  }
  for (const i of (await records.list()).filter((x) => x.topo_namespace === namespace && x.local_pod_name === name)) {
    await records.remove(i);
    removed.push(`record of ${i.local_pod_iface_name}`);
  }
  return removed;
}
