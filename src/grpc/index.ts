// The meshnet gRPC API (package meshnet.v1beta1), wire-compatible with upstream meshnet-cni and the
// KNE fork. The daemon loads this; CNI plugins must not (it pulls in connect and protobuf).
export { MESHNET_GRPC_PORT, grpcAddress, grpcBaseUrl } from './address';
export { startGrpcServer, DEFAULT_WINDOW_BYTES } from './server';
export type { GrpcServer, GrpcServerOptions, RemoteHandlers, RemoteExtHandlers, LocalHandlers, WireProtocolHandlers } from './server';
export { remoteClient, DEFAULT_CALL_TIMEOUT_MS } from './client';
export type { RemoteClient, ClientOptions, CallOptions } from './client';
export { GrpcCallError, GrpcStatusError, GRPC_STATUS_NAMES, Status, grpcStatusName } from './errors';
export type { GrpcStatusName } from './errors';
export { toInt64 } from './codec';
export type * from './types';
/** The generated messages and service descriptors, for code that needs them (e.g. the wire's streams). */
export * as pb from './gen/meshnet/v1beta1/meshnet_pb';
export { wireClient, DEFAULT_STREAM_QUEUE } from './wire-client';
export { PEER_TLS_MODES, certificateNames, normalizeIp } from './tls';
export type { PeerTlsMode, TlsMaterial, ServerTls, PeerConnection } from './tls';
export type { WireClient, WireStream } from './wire-client';
