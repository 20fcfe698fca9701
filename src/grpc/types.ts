// Plain TypeScript views of the meshnet.v1beta1 and meshnet.ext.v1 messages, derived from the
// generated types (so they cannot drift from the proto), for handlers and callers that should not
// carry protobuf-es's `$typeName`.
//
// Field casing: the proto's snake_case names become lowerCamelCase here, exactly as protoc-gen-es
// names them (src_ip → srcIp, wire_if_id_on_peer_node → wireIfIdOnPeerNode, remot_intf_id →
// remotIntfId, sic). Every int64 field is a `bigint` when decoded; where we encode (client requests,
// handler results) a `number` is accepted too if it is a safe integer.
//
// Messages decoded by the gRPC layer are the generated objects themselves (they also carry a
// `$typeName` key); they are structurally these types, so no copy is made on the hot path.
import type { Message } from '@bufbuild/protobuf';
import type * as ext from './gen/meshnet/ext/v1/ext_pb';
import type * as pb from './gen/meshnet/v1beta1/meshnet_pb';

/** A generated message without protobuf-es's bookkeeping keys, nested messages alike. */
export type Plain<M> = {
  [K in keyof M as K extends '$typeName' | '$unknown' ? never : K]: M[K] extends ReadonlyArray<infer U>
    ? U extends Message ? Plain<U>[] : M[K]
    : M[K] extends Message ? Plain<M[K]> : M[K];
};

export type Link = Plain<pb.Link>;
export type Pod = Plain<pb.Pod>;
export type PodQuery = Plain<pb.PodQuery>;
export type SkipQuery = Plain<pb.SkipQuery>;
/** A VXLAN end to create on the receiving node (Remote.Update). */
export type RemotePod = Plain<pb.RemotePod>;
/**
 * One end of a grpc-wire. In a WireDef sent to a peer, `wireIfIdOnPeerNode` is the SENDER's id
 * for the wire and the `localPod*` fields describe the pod on the RECEIVING node.
 */
export type WireDef = Plain<pb.WireDef>;
/** WireCreateResponse: `peerIntfId` is the id of the wire end that was created. */
export type WireCreateResult = Plain<pb.WireCreateResponse>;
/** One frame for the receiving daemon's wire `remotIntfId` (sic, as upstream spells it). */
export type Packet = Plain<pb.Packet>;
export type GenerateNodeInterfaceNameRequest = Plain<pb.GenerateNodeInterfaceNameRequest>;
export type GenerateNodeInterfaceNameResult = Plain<pb.GenerateNodeInterfaceNameResponse>;
/** meshnet.ext.v1.EndRef: one end of a cross-node VXLAN link on the receiving node. */
export type EndRef = Plain<ext.EndRef>;

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
  /** The caller's IP address (its TCP connection's; IPv4-mapped IPv6 shown as IPv4), '' if unknown. */
  readonly peerAddress: string;
}
