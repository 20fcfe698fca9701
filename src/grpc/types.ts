// Plain TypeScript views of the meshnet.v1beta1 messages, so the daemon implements handlers and
// calls peers without touching generated types.
//
// Field casing: the proto's snake_case names become lowerCamelCase here, exactly as protoc-gen-es
// names them (src_ip → srcIp, wire_if_id_on_peer_node → wireIfIdOnPeerNode, remot_intf_id →
// remotIntfId, sic). Every int64 field is a `bigint` when decoded; where we encode (client requests,
// handler results) a `number` is accepted too if it is a safe integer.
//
// Messages decoded by the gRPC layer are the generated objects themselves (they also carry a
// `$typeName` key); they are structurally these interfaces, so no copy is made on the hot path.

export interface Link {
  peerPod: string;
  localIntf: string;
  peerIntf: string;
  localIp: string;
  peerIp: string;
  uid: bigint;
}

export interface Pod {
  name: string;
  srcIp: string;
  netNs: string;
  kubeNs: string;
  links: Link[];
  nodeIp: string;
  nodeIntf: string;
  containerId: string;
}

export interface PodQuery {
  name: string;
  kubeNs: string;
}

export interface SkipQuery {
  pod: string;
  peer: string;
  kubeNs: string;
  linkId: bigint;
}

/** A VXLAN end to create on the receiving node (Remote.Update). */
export interface RemotePod {
  netNs: string;
  intfName: string;
  intfIp: string;
  peerVtep: string;
  kubeNs: string;
  vni: bigint;
  nodeIntf: string;
}

/**
 * One end of a grpc-wire. In a WireDef sent to a peer, `wireIfIdOnPeerNode` is the SENDER's id
 * for the wire and the `localPod*` fields describe the pod on the RECEIVING node.
 */
export interface WireDef {
  wireIfIdOnPeerNode: bigint;
  peerNodeIp: string;
  intfNameInPod: string;
  localPodNetNs: string;
  linkUid: bigint;
  localPodName: string;
  wireIfNameOnLocalNode: string;
  topoNs: string;
  localPodIp: string;
}

/** WireCreateResponse: `peerIntfId` is the id of the wire end that was created. */
export interface WireCreateResult {
  response: boolean;
  peerIntfId: bigint;
}

/** One frame for the receiving daemon's wire `remotIntfId` (sic, as upstream spells it). */
export interface Packet {
  remotIntfId: bigint;
  frame: Uint8Array;
}

export interface GenerateNodeInterfaceNameRequest {
  podIntfName: string;
  podName: string;
}

export interface GenerateNodeInterfaceNameResult {
  ok: boolean;
  nodeIntfName: string;
}

/**
 * What callers may pass where we encode: every field optional (proto3 default when absent:
 * "", 0, false, []), int64 fields as bigint or safe-integer number.
 */
export type Input<T> = {
  [K in keyof T]?: T[K] extends bigint
    ? bigint | number
    : T[K] extends Uint8Array
      ? Uint8Array
      : T[K] extends ReadonlyArray<infer U>
        ? ReadonlyArray<Input<U>>
        : T[K];
};

/** What a handler of the daemon sees about the call it serves. */
export interface CallContext {
  /** Full method name, e.g. `meshnet.v1beta1.Remote/Update`. */
  readonly method: string;
  /** Aborted when the caller cancels, its deadline passes, or the server closes. */
  readonly signal: AbortSignal;
  /** Milliseconds left before the caller's deadline, or undefined when it set none. */
  timeoutMs(): number | undefined;
}

/** meshnet.ext.v1.EndRef: one end of a cross-node VXLAN link on the receiving node. */
export interface EndRef {
  netNs: string;
  intfName: string;
  vni: bigint;
  peerVtep: string;
}
