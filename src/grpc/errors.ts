// gRPC status codes and the two error classes of this layer, shaped as grpc-js's ServiceError: a
// numeric `code` (the status, `Status.NOT_FOUND`) and the peer's text in `details`.
//
// GrpcCallError   thrown by our clients: names the peer, the method and the gRPC status.
// GrpcStatusError thrown by a handler of the daemon to answer with a specific status; any other
//                 exception from a handler is answered with INTERNAL and its message.
import { Code, ConnectError } from '@connectrpc/connect';
import { MeshnetError } from '../errors';

/** gRPC's canonical status names, indexed by their numeric code (the same numbers grpc-go uses). */
export const GRPC_STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND',
  'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED',
  'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const;

export type GrpcStatusName = (typeof GRPC_STATUS_NAMES)[number];

/** The status numbers by name, as grpc-js's `status` enum: `Status.UNIMPLEMENTED` is 12. */
export const Status = Object.fromEntries(GRPC_STATUS_NAMES.map((n, i) => [n, i])) as { readonly [K in GrpcStatusName]: number };

/** The name of a status number ('UNKNOWN' for anything that is not a failure status). */
export function grpcStatusName(code: number): Exclude<GrpcStatusName, 'OK'> {
  const name = GRPC_STATUS_NAMES[code];
  return name === undefined || name === 'OK' ? 'UNKNOWN' : name;
}

/** Throw from a handler to answer with status `code` (e.g. Status.NOT_FOUND) instead of INTERNAL. */
export class GrpcStatusError extends MeshnetError {
  constructor(readonly code: number, readonly details: string) {
    super(details);
  }
}

/** A call to a peer failed: `code` its gRPC status number, `details` the peer's (or our transport's) text. */
export class GrpcCallError extends MeshnetError {
  readonly code: number;
  constructor(
    readonly peer: string,
    readonly method: string,
    code: number,
    /** The status message, without decoration. */
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`gRPC ${method} to ${peer} failed: ${grpcStatusName(code)}: ${details}`, options);
    this.code = code;
  }

  /** The status's name, e.g. 'DEADLINE_EXCEEDED'. */
  get codeName(): string {
    return grpcStatusName(this.code);
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
  if (err instanceof GrpcStatusError) return new ConnectError(err.details, err.code as Code);
  if (err instanceof ConnectError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectError(message, Code.Internal, undefined, undefined, err);
}
