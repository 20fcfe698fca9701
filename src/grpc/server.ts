// The meshnet gRPC server: Local, Remote and WireProtocol on one HTTP/2 port (plaintext, or mTLS and
// plaintext side by side with --peer-tls: listener.ts), speaking the gRPC protocol (what grpc-go
// peers speak) and also Connect (handy for curl while debugging).
//
// The daemon supplies plain handlers (types.ts); a service or method without a handler answers
// UNIMPLEMENTED; a handler that throws answers INTERNAL with the exception's message, or the code
// of a GrpcStatusError. Handler results are checked: a wrong type answers INTERNAL, naming the
// method, instead of sending a default value a peer would take for an answer.
import * as http2 from 'node:http2';
import { isIPv6, type AddressInfo, type Server as TcpServer } from 'node:net';
import type { PeerConnection, ServerTls } from './tls';
import { peerTlsListener } from './listener';
import { createContextKey, createContextValues, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { encodeGrpcMessage, specGrpcMessages } from './status-message';
import type { DescMessage, MessageInitShape } from '@bufbuild/protobuf';
import * as pb from './gen/meshnet/v1beta1/meshnet_pb';
import * as ext from './gen/meshnet/ext/v1/ext_pb';
import { toInit } from './codec';
import { SEND_TO_STREAM_PATH, serveRawSendToStream } from './raw-receive';
import { handlerError, grpcStatusName } from './errors';
import { LogLimiter, type Logger } from '../log';
import type {
  CallContext, EndRef, GenerateNodeInterfaceNameRequest, GenerateNodeInterfaceNameResult, Input, Packet,
  Pod, PodQuery, RemotePod, SkipQuery, WireCreateResult, WireDef,
} from './types';

type Result<T> = T | Promise<T>;

/** Remote: what a peer daemon asks of this node. */
export interface RemoteHandlers {
  /** Create (or update) the VXLAN end described by `req` on this node. */
  update(req: RemotePod, call: CallContext): Result<boolean>;
  /** Create this node's end of a grpc-wire; answer this node's id for it as `peerIntfId`. */
  addGrpcWireRemote(req: WireDef, call: CallContext): Result<Input<WireCreateResult>>;
  /** Take this node's end of a grpc-wire down. */
  grpcWireDownRemote(req: WireDef, call: CallContext): Result<boolean>;
  /** KNE fork: addGrpcWireRemote for many wires; one result per item, in order. */
  addGrpcWiresRemoteBatch(req: WireDef[], call: CallContext): Result<ReadonlyArray<Input<WireCreateResult>>>;
}

/** meshnet.ext.v1.RemoteExt: our extensions (separate package, same port). */
export interface RemoteExtHandlers {
  /** Remove this node's end of a cross-node VXLAN link; false when nothing matched. */
  removeEnd(req: EndRef, call: CallContext): Result<boolean>;
}

/** Local: upstream's plugin-to-daemon API (our plugin uses a unix socket; kept for compatibility). */
export interface LocalHandlers {
  get(req: PodQuery, call: CallContext): Result<Input<Pod>>;
  setAlive(req: Pod, call: CallContext): Result<boolean>;
  skipReverse(req: SkipQuery, call: CallContext): Result<boolean>;
  skip(req: SkipQuery, call: CallContext): Result<boolean>;
  isSkipped(req: SkipQuery, call: CallContext): Result<boolean>;
  grpcWireExists(req: WireDef, call: CallContext): Result<Input<WireCreateResult>>;
  addGrpcWireLocal(req: WireDef, call: CallContext): Result<boolean>;
  remGrpcWire(req: WireDef, call: CallContext): Result<boolean>;
  generateNodeInterfaceName(req: GenerateNodeInterfaceNameRequest, call: CallContext): Result<Input<GenerateNodeInterfaceNameResult>>;
}

/** WireProtocol: frames from peer daemons. */
export interface WireProtocolHandlers {
  /** Upstream: one unary call per frame. (KNE's SendToStream is served by `wireFrames`.) */
  sendToOnce(packet: Packet, call: CallContext): Result<boolean>;
}

export interface GrpcServerOptions {
  /** Address to listen on: an IP ('0.0.0.0', '::', '127.0.0.1', '::1') or a host name. */
  host: string;
  /** TCP port; 0 picks a free one (see the returned `port`). Production uses MESHNET_GRPC_PORT. */
  port: number;
  remote?: Partial<RemoteHandlers>;
  local?: Partial<LocalHandlers>;
  wire?: Partial<WireProtocolHandlers>;
  ext?: Partial<RemoteExtHandlers>;
  /**
   * KNE's SendToStream (one client stream per namespace and peer node), parsed straight off HTTP/2:
   * each Packet is handed here as its bytes arrive (raw-receive.ts). Without it the method is
   * UNIMPLEMENTED.
   */
  wireFrames?: (p: Packet, from: string) => void;
  /** Told when a peer opens a SendToStream (`from`: its address), before any of its frames. */
  wireStreamOpened?: (from: string) => void;
  /** One line per failed call and per transport problem. */
  log?: Logger;
  /** mTLS towards peers (tls.ts); without it the port serves plaintext gRPC, as upstream's daemons. */
  tls?: ServerTls;
  /** Told how every call ended: its method (`other` for a path that is none) and gRPC code name (or `HTTP_<status>` when refused before gRPC). */
  onCall?: (method: string, code: string) => void;
  /** Told about every incoming connection when `tls` is set: mTLS or plaintext, accepted or refused. */
  onConnection?: (c: PeerConnection) => void;
  /** HTTP/2 flow-control window, stream and connection (default 16 MiB: one HTTP/2 stream of 64 KB messages reached 5.1 Gbit/s on loopback only with a 16 MB window). */
  windowBytes?: number;
  /** How long close() lets in-flight calls finish before it drops connections (default 500 ms). */
  closeGraceMs?: number;
}

export interface GrpcServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  readonly host: string;
  /** Stops accepting, aborts in-flight handlers' signals, drops connections after the grace period. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_WINDOW_BYTES = 16 * 1024 * 1024;
/** The largest HTTP/2 frame we accept (SETTINGS_MAX_FRAME_SIZE): a super-frame and its headers fit. */
export const MAX_FRAME_BYTES = 128 * 1024;

type Handler<Req, Res> = ((req: Req, call: CallContext) => Result<Res>) | undefined;
type Log = Logger;

/** The caller's address, put in each call's context values by the adapter (contextValues below). */
const PEER_ADDRESS = createContextKey<string>('', { description: 'caller IP address' });

/** A socket's remote address as a plain IP: `::ffff:192.0.2.1` (a v4 caller on a v6 socket) → `192.0.2.1`. */
export function peerAddressOf(socket: { remoteAddress?: string | undefined } | undefined): string {
  const a = socket?.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function callContext(ctx: HandlerContext): CallContext {
  return {
    method: `${ctx.service.typeName}/${ctx.method.name}`,
    signal: ctx.signal,
    timeoutMs: () => ctx.timeoutMs(),
    peerAddress: ctx.values.get(PEER_ADDRESS),
  };
}

function expectBool(method: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${method} handler returned ${typeof v}, expected boolean`);
  return v;
}

function expectObject(method: string, v: unknown): object {
  if (typeof v !== 'object' || v === null) throw new TypeError(`${method} handler returned ${v === null ? 'null' : typeof v}, expected an object`);
  return v;
}

/** Wraps a handler: context, result conversion, error mapping, logging. */
function wrap<Req, Res, Out>(
  log: Log | undefined,
  handler: Handler<Req, Res>,
  encode: (method: string, res: Res) => Out,
): ((req: Req, ctx: HandlerContext) => Promise<Out>) | undefined {
  if (handler === undefined) return undefined; // connect answers UNIMPLEMENTED
  return async (req, ctx) => {
    const call = callContext(ctx);
    try {
      return encode(call.method, await handler(req, call));
    } catch (err) {
      const ce = handlerError(err);
      log?.warn(`grpc: ${call.method} failed: ${grpcStatusName(ce.code)}: ${ce.rawMessage}`);
      throw ce;
    }
  };
}

function boolResponse(method: string, v: boolean): MessageInitShape<typeof pb.BoolResponseSchema> {
  return { response: expectBool(method, v) };
}

function message<D extends DescMessage>(schema: D) {
  return (method: string, v: object): MessageInitShape<D> => toInit(schema, expectObject(method, v), method);
}

// Handlers are bound to their objects so classes with methods work as handlers.
function bind<T extends object, K extends keyof T>(h: Partial<T> | undefined, k: K): T[K] | undefined {
  const f = h?.[k];
  return typeof f === 'function' ? (f as (...a: unknown[]) => unknown).bind(h) as T[K] : undefined;
}

function remoteImpl(h: Partial<RemoteHandlers> | undefined, log?: Log): Partial<ServiceImpl<typeof pb.Remote>> {
  const impl: Partial<ServiceImpl<typeof pb.Remote>> = {};
  const update = wrap(log, bind(h, 'update'), boolResponse);
  if (update) impl.update = update;
  const add = wrap(log, bind(h, 'addGrpcWireRemote'), message(pb.WireCreateResponseSchema));
  if (add) impl.addGRPCWireRemote = add;
  const down = wrap(log, bind(h, 'grpcWireDownRemote'), (m, v: boolean) => ({ response: expectBool(m, v) }));
  if (down) impl.gRPCWireDownRemote = down;
  const batchHandler = bind(h, 'addGrpcWiresRemoteBatch');
  const batch = wrap(log, batchHandler && ((req: pb.WireDefBatch, call: CallContext) => batchHandler(req.items, call)),
    (m, items: ReadonlyArray<Input<WireCreateResult>>) => {
      if (!Array.isArray(items)) throw new TypeError(`${m} handler returned ${typeof items}, expected an array`);
      return toInit(pb.WireCreateResponseBatchSchema, { items }, m);
    });
  if (batch) impl.addGRPCWiresRemoteBatch = batch;
  return impl;
}

function localImpl(h: Partial<LocalHandlers> | undefined, log?: Log): Partial<ServiceImpl<typeof pb.Local>> {
  const impl: Partial<ServiceImpl<typeof pb.Local>> = {};
  const get = wrap(log, bind(h, 'get'), message(pb.PodSchema));
  if (get) impl.get = get;
  const setAlive = wrap(log, bind(h, 'setAlive'), boolResponse);
  if (setAlive) impl.setAlive = setAlive;
  const skipReverse = wrap(log, bind(h, 'skipReverse'), boolResponse);
  if (skipReverse) impl.skipReverse = skipReverse;
  const skip = wrap(log, bind(h, 'skip'), boolResponse);
  if (skip) impl.skip = skip;
  const isSkipped = wrap(log, bind(h, 'isSkipped'), boolResponse);
  if (isSkipped) impl.isSkipped = isSkipped;
  const exists = wrap(log, bind(h, 'grpcWireExists'), message(pb.WireCreateResponseSchema));
  if (exists) impl.gRPCWireExists = exists;
  const addLocal = wrap(log, bind(h, 'addGrpcWireLocal'), boolResponse);
  if (addLocal) impl.addGRPCWireLocal = addLocal;
  const rem = wrap(log, bind(h, 'remGrpcWire'), boolResponse);
  if (rem) impl.remGRPCWire = rem;
  const gen = wrap(log, bind(h, 'generateNodeInterfaceName'), message(pb.GenerateNodeInterfaceNameResponseSchema));
  if (gen) impl.generateNodeInterfaceName = gen;
  return impl;
}

function wireImpl(h: Partial<WireProtocolHandlers> | undefined, log?: Log): Partial<ServiceImpl<typeof pb.WireProtocol>> {
  const impl: Partial<ServiceImpl<typeof pb.WireProtocol>> = {};
  const once = wrap(log, bind(h, 'sendToOnce'), boolResponse);
  if (once) impl.sendToOnce = once;
  return impl;
}

function extImpl(h: Partial<RemoteExtHandlers> | undefined, log?: Log): Partial<ServiceImpl<typeof ext.RemoteExt>> {
  const impl: Partial<ServiceImpl<typeof ext.RemoteExt>> = {};
  const remove = wrap(log, bind(h, 'removeEnd'), (m, v: boolean) => ({ removed: expectBool(m, v) }));
  if (remove) impl.removeEnd = remove;
  return impl;
}

/** Rewrites an :authority that is not a valid URL authority (unbracketed IPv6, garbage) in place. */
function fixAuthority(req: http2.Http2ServerRequest): void {
  const authority = req.headers[':authority'];
  if (typeof authority !== 'string') {
    req.headers[':authority'] = 'localhost'; // optional in HTTP/2; routing uses only the path
    return;
  }
  if (URL.canParse(`http://${authority}`)) return;
  const m = /^(.+):(\d+)$/.exec(authority);
  const host = m?.[1] ?? authority;
  req.headers[':authority'] = isIPv6(host) ? `[${host}]${m ? `:${m[2]}` : ''}` : 'invalid-authority';
}

/** The largest unary request message taken (RESOURCE_EXHAUSTED beyond). */
export const MAX_UNARY_MESSAGE_BYTES = 4 << 20;

const KNOWN_PATHS = new Set([pb.Local, pb.Remote, pb.WireProtocol, ext.RemoteExt].flatMap((s) => s.methods.map((m) => `/${s.typeName}/${m.name}`)));

/** Reports how a call ended, from the grpc-status the response carries (headers or trailers). */
function observeCall(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, report: (method: string, code: string) => void): void {
  let status: string | undefined;
  const seen = (h: unknown) => {
    const v = (h as Record<string, unknown> | undefined)?.['grpc-status'];
    if (v !== undefined) status = String(v);
  };
  const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => http2.Http2ServerResponse;
  res.writeHead = ((...a: unknown[]) => { seen(a.find((x) => typeof x === 'object')); return writeHead(...a); }) as typeof res.writeHead;
  const addTrailers = res.addTrailers.bind(res);
  res.addTrailers = (t) => { seen(t); addTrailers(t); };
  res.once('close', () => {
    const method = KNOWN_PATHS.has(req.url) ? req.url.slice(1) : 'other';
    report(method, status === '0' ? 'OK' : status !== undefined ? grpcStatusName(Number(status)) : res.headersSent ? `HTTP_${res.statusCode}` : 'CANCELLED');
  });
}

/** Starts the gRPC server; resolves once it listens (rejects naming host:port if it cannot). */
export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServer> {
  const { host, log } = opts;
  const window = opts.windowBytes ?? DEFAULT_WINDOW_BYTES;
  const grace = opts.closeGraceMs ?? 500;
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new RangeError(`gRPC server port must be an integer 0..65535, got ${String(opts.port)}`);
  }
  if (!Number.isInteger(window) || window < 65535 || window > 2 ** 31 - 1) {
    throw new RangeError(`windowBytes must be an integer 65535..2^31-1, got ${String(window)}`);
  }
  const shutdown = new AbortController();
  const handler = connectNodeAdapter({
    grpc: true,
    grpcWeb: false,
    connect: true,
    // connect-node gzips every message >= 1 KiB by default: 10x slower on the wire (measured).
    acceptCompression: [],
    shutdownSignal: shutdown.signal,
    // A peer cannot make the daemon buffer more than this per message (a batch of 1,500 wires is ~300 KB).
    readMaxBytes: MAX_UNARY_MESSAGE_BYTES,
    contextValues: (req) => createContextValues().set(PEER_ADDRESS, peerAddressOf(req.socket)),
    routes(router) {
      router.service(pb.Local, localImpl(opts.local, log));
      router.service(pb.Remote, remoteImpl(opts.remote, log));
      router.service(pb.WireProtocol, wireImpl(opts.wire, log));
      router.service(ext.RemoteExt, extImpl(opts.ext, log));
    },
  });

  const h2: http2.ServerOptions = {
    // A peer may send a wire's 64 KB TSO super-frame as one DATA frame rather than five of
    // HTTP/2's default 16 KB (fewer frames for nghttp2 to build and parse on both ends).
    settings: { initialWindowSize: window, maxFrameSize: MAX_FRAME_BYTES },
    maxSessionMemory: Math.max(10, Math.ceil((4 * window) / (1024 * 1024))),
  };
  const onRequest = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void => {
    // connect-node builds a URL from :authority and throws, uncaught, when it is not one: Node's
    // own http2 client sends `::1:51111` for IPv6 peers. A peer must not be able to crash the daemon.
    fixAuthority(req);
    if (opts.onCall) observeCall(req, res, opts.onCall);
    try {
      if (opts.wireFrames && req.url === SEND_TO_STREAM_PATH && req.method === 'POST') {
        const from = peerAddressOf(req.socket);
        const frames = opts.wireFrames;
        opts.wireStreamOpened?.(from);
        serveRawSendToStream(req, res, (p) => frames(p, from), shutdown.signal);
        return;
      }
      specGrpcMessages(res);
      handler(req, res);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log?.warn(`grpc: request ${req.url} refused: ${message}`);
      if (!res.headersSent) {
        res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': '13', 'grpc-message': encodeGrpcMessage(message) });
      }
      res.end();
    }
  };
  // A peer can break connections at will: said in the log, not once per connection.
  const limited = log ? new LogLimiter(log) : undefined;
  const sessions = new Set<http2.ServerHttp2Session>();
  const onSession = (session: http2.ServerHttp2Session): void => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.on('error', (err) => limited?.warn('connection-error', `grpc: connection error: ${err.message}`));
    try {
      session.setLocalWindowSize(window);
    } catch (err) {
      log?.warn(`grpc: could not raise the connection window: ${(err as Error).message}`);
    }
  };
  const onSessionError = (err: Error) => limited?.warn('session-error', `grpc: session error: ${err.message}`);
  const server = http2.createServer(h2, onRequest);
  server.on('session', onSession);
  server.on('sessionError', onSessionError);
  // With peer TLS one port serves both transports (listener.ts); without, plaintext HTTP/2 alone.
  const listener: http2.Http2Server | TcpServer = opts.tls
    ? peerTlsListener({ h2, onRequest, plaintext: server, tls: opts.tls, onSession, onSessionError, report: (c) => opts.onConnection?.(c) })
    : server;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new Error(`gRPC server cannot listen on ${host}:${opts.port}: ${err.message}`, { cause: err }));
    };
    listener.once('error', onError);
    listener.listen({ host, port: opts.port }, () => {
      listener.off('error', onError);
      listener.on('error', (err: Error) => log?.warn(`grpc: server error: ${err.message}`));
      resolve();
    });
  });
  const port = (listener.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    port,
    host,
    close() {
      closing ??= new Promise<void>((resolve) => {
        shutdown.abort(new Error('gRPC server closing'));
        listener.close(() => resolve());
        for (const s of sessions) s.close(); // GOAWAY: in-flight streams may finish
        const timer = setTimeout(() => { for (const s of sessions) s.destroy(); }, grace);
        timer.unref();
      });
      return closing;
    },
  };
}
