// A client of a peer daemon's Remote service, speaking the gRPC protocol over plaintext HTTP/2
// (what grpc-go daemons serve). One HTTP/2 connection per client, opened on the first call and
// kept until close(). Every call has a deadline; every failure is a GrpcCallError that names the
// peer, the method and the gRPC code.
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import * as pb from './gen/meshnet/v1beta1/meshnet_pb';
import * as ext from './gen/meshnet/ext/v1/ext_pb';
import { grpcBaseUrl } from './address';
import { peerConnectOptions, type TlsMaterial } from './tls';
import { toInit } from './codec';
import { callError } from './errors';
import { DEFAULT_WINDOW_BYTES } from './server';
import type { EndRef, Input, RemotePod, WireCreateResult, WireDef } from './types';

export const DEFAULT_CALL_TIMEOUT_MS = 5000;

export interface ClientOptions {
  /** Deadline of each call unless the call gives its own (default 5000 ms, as the Go daemons use). */
  timeoutMs?: number;
  /** mTLS to the peer (tls.ts); plaintext without it. */
  tls?: TlsMaterial;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RemoteClient {
  /** The peer's `host:port`, as given. */
  readonly address: string;
  /** Remote.Update: ask the peer to create its VXLAN end. */
  update(pod: Input<RemotePod>, call?: CallOptions): Promise<boolean>;
  /** Remote.AddGRPCWireRemote: ask the peer to create its wire end; `peerIntfId` is the peer's id for it. */
  addGrpcWireRemote(wire: Input<WireDef>, call?: CallOptions): Promise<WireCreateResult>;
  /** Remote.GRPCWireDownRemote. */
  grpcWireDownRemote(wire: Input<WireDef>, call?: CallOptions): Promise<boolean>;
  /** Remote.AddGRPCWiresRemoteBatch (KNE fork; an upstream peer answers UNIMPLEMENTED). */
  addGrpcWiresRemoteBatch(wires: ReadonlyArray<Input<WireDef>>, call?: CallOptions): Promise<WireCreateResult[]>;
  /** meshnet.ext.v1.RemoteExt/RemoveEnd (ours; an upstream peer answers UNIMPLEMENTED). */
  removeEnd(end: Input<EndRef>, call?: CallOptions): Promise<boolean>;
  /** Drops the connection; calls in flight fail with CANCELLED. Idempotent. */
  close(): void;
}

function checkTimeout(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`${what} must be a positive number of milliseconds, got ${String(ms)}`);
  return ms;
}

/** A Remote client for the daemon at `address` (`host:port`, IPv6 as `[addr]:port`: build it with grpcAddress). */
export function remoteClient(address: string, opts: ClientOptions = {}): RemoteClient {
  const { baseUrl, options: connectOptions } = peerConnectOptions(grpcBaseUrl(address), opts.tls);
  const defaultTimeoutMs = checkTimeout(opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, 'timeoutMs');
  const session = new Http2SessionManager(baseUrl, {}, { settings: { initialWindowSize: DEFAULT_WINDOW_BYTES }, ...connectOptions });
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager: session,
    acceptCompression: [],
    defaultTimeoutMs,
  });
  const client: Client<typeof pb.Remote> = createClient(pb.Remote, transport);
  const extClient: Client<typeof ext.RemoteExt> = createClient(ext.RemoteExt, transport);

  async function call<T>(method: string, fn: () => Promise<T>, svc: string = pb.Remote.typeName): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw callError(err, address, `${svc}/${method}`);
    }
  }
  function options(c?: CallOptions): { timeoutMs: number; signal?: AbortSignal } {
    const timeoutMs = c?.timeoutMs === undefined ? defaultTimeoutMs : checkTimeout(c.timeoutMs, 'timeoutMs');
    return c?.signal ? { timeoutMs, signal: c.signal } : { timeoutMs };
  }
  const created = (r: pb.WireCreateResponse): WireCreateResult => ({ response: r.response, peerIntfId: r.peerIntfId });

  return {
    address,
    update: (pod, c) => call('Update', async () =>
      (await client.update(toInit(pb.RemotePodSchema, pod, 'RemotePod'), options(c))).response),
    addGrpcWireRemote: (wire, c) => call('AddGRPCWireRemote', async () =>
      created(await client.addGRPCWireRemote(toInit(pb.WireDefSchema, wire, 'WireDef'), options(c)))),
    grpcWireDownRemote: (wire, c) => call('GRPCWireDownRemote', async () =>
      (await client.gRPCWireDownRemote(toInit(pb.WireDefSchema, wire, 'WireDef'), options(c))).response),
    addGrpcWiresRemoteBatch: (wires, c) => call('AddGRPCWiresRemoteBatch', async () =>
      (await client.addGRPCWiresRemoteBatch(toInit(pb.WireDefBatchSchema, { items: wires }, 'WireDefBatch'), options(c))).items.map(created)),
    removeEnd: (end, c) => call('RemoveEnd', async () =>
      (await extClient.removeEnd(toInit(ext.EndRefSchema, end, 'EndRef'), options(c))).removed, ext.RemoteExt.typeName),
    close() {
      session.abort();
    },
  };
}
