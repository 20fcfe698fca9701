// The meshnet custom resources as users write them (group networkop.co.uk, version v1beta1).
// JSON keys are upstream's snake_case so KNE-emitted objects load unchanged.

import type { ImpairmentKey } from './impairment';
import type { StoredMeta } from '../store/store';

export const TOPOLOGY_API_VERSION = 'networkop.co.uk/v1beta1';
export const TOPOLOGY_KIND = 'Topology';
/** peer_pod value meaning "macvlan to the host interface named by peer_intf". */
export const LOCALHOST_PEER = 'localhost';

export interface Link {
  uid: number;
  peer_pod: string;
  local_intf: string;
  peer_intf: string;
  local_ip?: string;
  peer_ip?: string;
  /**
   * MTU of both ends (ours; upstream ignores it): veth links and grpc-wires get it (jumbo frames,
   * 9000 and beyond); a VXLAN link always gets its underlay's MTU minus 50. Default 1500.
   */
  mtu?: number;
  /**
   * `down`: the cable is pulled (ours; `meshnetctl lab link down`): the link stays plumbed but
   * passes nothing, and both pods see it without carrier. A link is down when either half says so.
   * Absent (or `up`): connected.
   */
  state?: 'down';
  /**
   * `grpc`: this link is a grpc-wire whatever meshnet would choose (ours), same node included:
   * what an impaired link needs. Either half saying so is enough.
   */
  link_type?: 'grpc';
  /**
   * What frames leaving this half's interface suffer (ours; netem's terms, e.g. `{delay: 20ms,
   * loss: 1%}`: topology/impairment.ts). An impaired link is a grpc-wire.
   */
  impairment?: Partial<Record<ImpairmentKey, string>>;
}

export interface SkippedPod {
  pod_name: string;
  link_id: number;
}

export interface TopologyStatus {
  /** The NODE's IP (VTEP address), not the pod's. */
  src_ip?: string;
  /** CNI_NETNS of the pod. */
  net_ns?: string;
  /** CNI container id of the ADD that made the pod alive; a DEL with another id is stale. */
  container_id?: string;
  skipped?: SkippedPod[];
  plumbing_error?: string;
}

/** A Topology's metadata is any stored object's (store/store.ts). */
export type ObjectMeta = StoredMeta;

export interface Topology {
  apiVersion: typeof TOPOLOGY_API_VERSION;
  kind: typeof TOPOLOGY_KIND;
  metadata: ObjectMeta;
  spec: { links: Link[] };
  status?: TopologyStatus;
}

/** A pod is alive once its ADD recorded both the node IP and the netns. */
export function isAlive(t: Topology): boolean {
  return Boolean(t.status?.src_ip && t.status?.net_ns);
}

