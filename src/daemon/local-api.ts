// meshnet.v1beta1 Local service over the store: the plugin-to-daemon API of upstream's Go plugin
// (ours talks to meshnetd over the CNI socket), so that plugin, or tools built on it, can use
// meshnetd. Semantics as upstream: a pod is alive when src_ip and net_ns are set; `skipped` is
// upstream's handshake state, kept in Topology status.
import { createHash } from 'node:crypto';
import { GrpcStatusError, type LocalHandlers, type Pod, Status } from '../grpc';
import { StoreError } from '../store';
import { TopologyError, type Topology, type TopologyClient, type TopologyStatus } from '../topology';

/** Store and validation failures as gRPC statuses a caller can act on. */
async function mapped<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof StoreError && e.code === 'Invalid') throw new GrpcStatusError(Status.INVALID_ARGUMENT, e.message);
    if (e instanceof StoreError && e.code === 'NotFound') throw new GrpcStatusError(Status.NOT_FOUND, e.message);
    if (e instanceof TopologyError) throw new GrpcStatusError(Status.FAILED_PRECONDITION, `stored Topology is malformed: ${e.message}`);
    throw e;
  }
}

function notFound(ns: string, name: string): GrpcStatusError {
  return new GrpcStatusError(Status.NOT_FOUND, `Topology ${ns}/${name} not found`);
}

/** This daemon's node, as upstream's Local.Get reports it (HOST_IP and HOST_INTF). */
export interface LocalNode {
  nodeIp: string;
  nodeIntf?: string;
}

function podMessage(t: Topology, node: LocalNode): Pod {
  const s = t.status ?? {};
  return {
    name: t.metadata.name, kubeNs: t.metadata.namespace,
    srcIp: s.src_ip ?? '', netNs: s.net_ns ?? '', containerId: s.container_id ?? '', nodeIp: node.nodeIp, nodeIntf: node.nodeIntf ?? '',
    links: t.spec.links.map((l) => ({
      uid: BigInt(l.uid), peerPod: l.peer_pod, localIntf: l.local_intf, peerIntf: l.peer_intf, localIp: l.local_ip ?? '', peerIp: l.peer_ip ?? '',
    })),
  };
}

const sameEntry = (pod: string, linkId: number) => (e: { pod_name: string; link_id: number }) => e.pod_name === pod && e.link_id === linkId;

/**
 * A host interface name for a pod interface, at most 15 bytes, the same every time for the same
 * pod and interface (upstream used a counter that reset on restart, so names changed).
 */
export function nodeInterfaceName(podName: string, podIntf: string): string {
  const h = createHash('sha256').update(`${podName}/${podIntf}`).digest('hex').slice(0, 8);
  return `${podIntf.replace(/[^a-zA-Z0-9]/g, '').slice(0, 6)}-${h}`;
}

export function localHandlers(topologies: TopologyClient, node: LocalNode): Partial<LocalHandlers> {
  const patch = (ns: string, name: string, f: (s: TopologyStatus) => TopologyStatus) => mapped(async () => {
    if (!(await topologies.patchStatus(ns, name, f))) throw notFound(ns, name);
    return true;
  });
  return {
    get: (q) => mapped(async () => {
      const t = await topologies.get(q.kubeNs, q.name);
      if (!t) throw notFound(q.kubeNs, q.name);
      return podMessage(t, node);
    }),
    // An empty field clears it, so SetAlive with no net_ns marks the pod not alive.
    setAlive: (p) => patch(p.kubeNs, p.name, (s) => ({
      ...s, src_ip: p.srcIp || undefined, net_ns: p.netNs || undefined, container_id: p.containerId || undefined,
    })),
    // `pod` skipped the link to `peer`: remembered in pod's status until the peer plumbs it.
    skip: (q) => patch(q.kubeNs, q.pod, (s) => {
      const skipped = s.skipped ?? [];
      const id = Number(q.linkId);
      return skipped.some(sameEntry(q.peer, id)) ? s : { ...s, skipped: [...skipped, { pod_name: q.peer, link_id: id }] };
    }),
    // `pod` plumbed the link `peer` had skipped: drop the entry from peer's status.
    skipReverse: (q) => patch(q.kubeNs, q.peer, (s) => ({
      ...s, skipped: (s.skipped ?? []).filter((e) => !sameEntry(q.pod, Number(q.linkId))(e)),
    })),
    // Did `peer` skip its link to `pod`?
    isSkipped: (q) => mapped(async () => {
      const t = await topologies.get(q.kubeNs, q.peer);
      if (!t) throw notFound(q.kubeNs, q.peer);
      return (t.status?.skipped ?? []).some(sameEntry(q.pod, Number(q.linkId)));
    }),
    generateNodeInterfaceName: (r) => {
      if (!r.podName || !r.podIntfName) throw new GrpcStatusError(Status.INVALID_ARGUMENT, 'pod_name and pod_intf_name are required');
      return { ok: true, nodeIntfName: nodeInterfaceName(r.podName, r.podIntfName) };
    },
  };
}
