// One error shape for the whole project: every error class extends MeshnetError, whose `name` is
// its class's (set here, never by hand) and whose `code` is stable for callers to match on. The
// code vocabulary (docs/errors.md): PascalCase names for our own conditions (`NotFound`,
// `InvalidLabFile`, ...); where an error stands for a standard's, the standard's own code: the
// errno name of a failed system call (`ENODEV`, as Node's system errors), the gRPC status number
// (as grpc-js's ServiceError), and the CNI error number only in CniError, which the plugin
// skeleton writes to the runtime as the spec's error result.

export abstract class MeshnetError extends Error {
  abstract readonly code: string | number;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A command line that cannot be run as given (a missing argument, an unknown flag); the message says what to type. */
export class UsageError extends MeshnetError {
  readonly code = 'Usage';
}
