// A client of a container runtime's CRI (runtime.v1) on its unix socket, making the calls a
// kubelet makes: pod sandboxes, containers, images, runtime status. gRPC over HTTP/2 through
// connect-node, one connection per client; every call has a deadline; every failure is a
// GrpcCallError naming the runtime's socket, the method and the gRPC code (one error shape with
// the daemon's peer calls, src/grpc/errors.ts).
import { connect } from 'node:net';
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { callError } from '../grpc/errors';
import * as cri from '../grpc/gen/runtime/v1/cri_pb';

export { cri };

/** Deadline of a call unless it gives its own: RunPodSandbox runs the whole CNI chain. */
const DEFAULT_TIMEOUT_MS = 120_000;

export interface CriClient {
  /** The runtime's socket, as given. */
  readonly socket: string;
  readonly runtime: Client<typeof cri.RuntimeService>;
  readonly images: Client<typeof cri.ImageService>;
  /** Runs `fn` with the client, turning any failure into a GrpcCallError naming `method`. */
  call<T>(method: string, fn: (c: CriClient) => Promise<T>): Promise<T>;
  close(): void;
}

export function criClient(socket: string, opts: { timeoutMs?: number } = {}): CriClient {
  // The authority is a placeholder: the connection is the unix socket.
  const baseUrl = 'http://localhost';
  const session = new Http2SessionManager(baseUrl, {}, { createConnection: () => connect(socket) });
  const transport = createGrpcTransport({ baseUrl, sessionManager: session, acceptCompression: [], defaultTimeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  const client: CriClient = {
    socket,
    runtime: createClient(cri.RuntimeService, transport),
    images: createClient(cri.ImageService, transport),
    async call(method, fn) {
      try {
        return await fn(client);
      } catch (e) {
        throw callError(e, `the container runtime at ${socket}`, `runtime.v1/${method}`);
      }
    },
    close() {
      session.abort();
    },
  };
  return client;
}
