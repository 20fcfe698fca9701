// gRPC status codes and the two error classes of this layer.
//
// GrpcCallError   thrown by our clients: names the peer, the method and the gRPC code.
// GrpcStatusError thrown by a handler of the daemon to answer with a specific code; any other
//                 exception from a handler is answered with INTERNAL and its message.
import { Code, ConnectError } from '@connectrpc/connect';

/** gRPC's canonical status names, indexed by their numeric code (the same numbers grpc-go uses). */
export const GRPC_STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND',
  'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED',
  'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const;

export type GrpcStatusName = Exclude<(typeof GRPC_STATUS_NAMES)[number], 'OK'>;

export function grpcStatusName(code: number): GrpcStatusName {
  const name = GRPC_STATUS_NAMES[code];
  return name === undefined || name === 'OK' ? 'UNKNOWN' : name;
}

function grpcStatusCode(name: GrpcStatusName): Code {
  return GRPC_STATUS_NAMES.indexOf(name) as Code;
}

/** Throw from a handler to answer with `code` (e.g. NOT_FOUND) instead of INTERNAL. */
export class GrpcStatusError extends Error {
  override readonly name = 'GrpcStatusError';
  constructor(readonly code: GrpcStatusName, message: string) {
    super(message);
  }
}

/** A call to a peer daemon failed. `code` is the gRPC status name, `status` its number. */
export class GrpcCallError extends Error {
  override readonly name = 'GrpcCallError';
  readonly code: GrpcStatusName;
  readonly status: number;
  constructor(
    readonly peer: string,
    readonly method: string,
    status: number,
    /** The status message the peer (or our transport) gave, without decoration. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    const code = grpcStatusName(status);
    super(`gRPC ${method} to ${peer} failed: ${code}: ${detail}`, options);
    this.code = code;
    this.status = status;
  }
}

/** Turns whatever a client call threw into a GrpcCallError. */
export function callError(err: unknown, peer: string, method: string): GrpcCallError {
  if (err instanceof GrpcCallError) return err;
  const ce = ConnectError.from(err);
  return new GrpcCallError(peer, method, ce.code, ce.rawMessage, { cause: err });
}

/** Turns whatever a handler threw into the ConnectError the server answers with. */
export function handlerError(err: unknown): ConnectError {
  if (err instanceof GrpcStatusError) return new ConnectError(err.message, grpcStatusCode(err.code));
  if (err instanceof ConnectError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectError(message, Code.Internal, undefined, undefined, err);
}
