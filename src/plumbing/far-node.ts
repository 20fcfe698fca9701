// How a pod's ADD reaches the far node of a cross-node link: upstream's Remote.Update(RemotePod)
// to the peer node's daemon, which creates the far VXLAN end in the peer pod. Injected, so the
// plugin stays free of gRPC: meshnetd passes its pooled client, the standalone binary loads one
// only when a cross-node link needs it.

/** The RemotePod message, as this side uses it. */
export interface RemoteEnd {
  /** netns path of the pod on the receiving node. */
  netNs: string;
  intfName: string;
  /** CIDR for the interface, or '' for none. */
  intfIp: string;
  /** The sender's node IP: the receiver's VXLAN remote. */
  peerVtep: string;
  kubeNs: string;
  vni: number;
  /** The receiver's underlay interface, or '' to let it pick the one holding its node IP. */
  nodeIntf: string;
}

/** EndRef (our extension service): the far end to remove when this pod goes away. */
export interface RemoteEndRef {
  netNs: string;
  intfName: string;
  vni: number;
  /** The sender's node IP: the far end's VXLAN remote. */
  peerVtep: string;
}

export interface RemoteLinker {
  /** Asks the daemon on `nodeIp` to create its end; throws with the node and the reason. */
  update(nodeIp: string, end: RemoteEnd): Promise<void>;
  /** Asks the daemon on `nodeIp` to remove its end; false when nothing matched; throws when unreachable. */
  remove(nodeIp: string, ref: RemoteEndRef): Promise<boolean>;
}

/** One end of a grpc-wire as the plugin knows it. */
export interface WireSide {
  namespace: string;
  pod: string;
  intf: string;
  netns: string;
  /** CIDR for the interface, or undefined. */
  ip?: string;
  /** The node the pod runs on. */
  node: string;
  /** The link's MTU (its Topology's `mtu`); default 1500. */
  mtu?: number;
}

/**
 * grpc-wire links, which need the node daemon's dataplane (only meshnetd provides one): connect
 * makes this pod's end and asks the peer node for its end; disconnect removes both.
 */
export interface WireLinker {
  connect(local: WireSide, peer: WireSide, uid: number): Promise<void>;
  /** `uid`: the link's uid, which an upstream peer needs to find its end (by netns and uid). */
  disconnect(local: WireSide, peer: WireSide, uid: number): Promise<void>;
  /**
   * Drops every wire end and record this node still has for a pod (its DEL, after the far ends):
   * ends whose peer was not up are not disconnected one by one, and must not outlive the pod.
   */
  forgetPod?(namespace: string, name: string): Promise<void>;
  /**
   * A pod's DEL, before it deletes the pod's links in one batch: its wire ends stop being relayed
   * (their veths are about to go); `sweep()` afterwards deletes any host end still there (the
   * pod's netns was not given, say).
   */
  detachPod?(namespace: string, name: string): { sweep(): void };
}
