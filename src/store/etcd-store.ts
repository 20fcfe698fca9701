// The etcd backend: the private store of the original meshnet design, and what lets several
// machines share one topology without Kubernetes. Speaks etcd v3's JSON gateway (/v3/kv/*) over
// HTTP or HTTPS (a CA, and a client certificate when etcd asks for one), with etcd's user/password
// auth when given (a token from /v3/auth/authenticate, renewed when etcd says it expired), so it
// needs no gRPC stack or extra package on the plugin path. resourceVersion is
// the key's mod_revision; create and update are transactions comparing revisions, so conflicts
// behave as the Kubernetes API's do.
import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ModifyStore } from './modify-store';
import { readJsonLines } from './json-lines';
import { reflect, type WatchSource } from './reflector';
import { resourceInfo } from './resources';
import { StoreError, type Store, type StoredObject, type StoreWatch, type WatchEvent, type WatchOptions } from './store';

const SEGMENT = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const PREFIX = '/meshnet/';

interface KeyValue { key: string; value?: string; mod_revision?: string; create_revision?: string }
interface Header { revision?: string }
interface RangeResponse { header?: Header; kvs?: KeyValue[]; count?: string }
interface WatchResponse {
  result?: {
    header?: Header; created?: boolean; canceled?: boolean; compact_revision?: string; cancel_reason?: string;
    events?: { type?: 'PUT' | 'DELETE'; kv: KeyValue; prev_kv?: KeyValue }[];
  };
  error?: { message?: string };
}
interface TxnResponse { succeeded?: boolean }
interface DeleteResponse { deleted?: string }

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString();

/** The first key after every key starting with `prefix` (etcd's range_end for a prefix scan). */
function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix);
  b[b.length - 1]! += 1;
  return b.toString();
}

function checkSegment(kind: string, v: string): void {
  if (!SEGMENT.test(v) || v.length > 253) throw new StoreError('Invalid', `invalid ${kind} "${v}"`);
}

export interface EtcdOptions {
  /** For https:// endpoints: the CA that signed etcd's certificate (default: the system's) and this client's certificate and key (etcd's --client-cert-auth). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** etcd's user/password auth (etcd's --auth enabled). */
  auth?: { user: string; password: string };
  /** Per request (default 5000). */
  timeoutMs?: number;
}

interface GatewayError { error?: string; message?: string; code?: number }

export class EtcdStore extends ModifyStore implements Store {
  private readonly endpoints: URL[];
  private readonly agent: HttpAgent;
  private readonly timeoutMs: number;
  private token: Promise<string> | undefined;

  /** `endpoints`: one or more http:// or https:// host:port of the etcd cluster, tried in order. */
  constructor(endpoints: string[], private readonly opts: EtcdOptions = {}) {
    super();
    if (endpoints.length === 0) throw new StoreError('Invalid', 'etcd store needs at least one endpoint');
    this.endpoints = endpoints.map((e) => {
      const u = new URL(e);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new StoreError('Invalid', `etcd endpoint ${e}: must be http:// or https://`);
      return u;
    });
    const schemes = new Set(this.endpoints.map((u) => u.protocol));
    if (schemes.size > 1) throw new StoreError('Invalid', 'etcd endpoints: all http:// or all https://');
    if (opts.tls && !schemes.has('https:')) throw new StoreError('Invalid', 'etcd: TLS settings need https:// endpoints');
    this.timeoutMs = opts.timeoutMs ?? 5000;
    // One agent per store: connections (and TLS sessions) are reused across calls.
    this.agent = schemes.has('https:')
      ? new HttpsAgent({ keepAlive: true, ...(opts.tls?.ca ? { ca: opts.tls.ca } : {}), ...(opts.tls?.cert ? { cert: opts.tls.cert } : {}), ...(opts.tls?.key ? { key: opts.tls.key } : {}) })
      : new HttpAgent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  private open(url: URL, options: RequestOptions, cb: (res: IncomingMessage) => void): ClientRequest {
    return (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { ...options, agent: this.agent }, cb);
  }

  /** The auth token (fetched once, shared by concurrent calls; dropped when etcd refuses it). */
  private authToken(): Promise<string> | undefined {
    const auth = this.opts.auth;
    if (!auth) return undefined;
    this.token ??= this.post<{ token?: string }>('/v3/auth/authenticate', { name: auth.user, password: auth.password }, undefined)
      .then((r) => {
        if (!r.token) throw new StoreError('Unauthorized', `etcd: authenticating as ${auth.user} gave no token (is auth enabled in etcd?)`);
        return r.token;
      })
      .catch((e: unknown) => {
        this.token = undefined;
        if (e instanceof StoreError && e.code === 'Unauthorized') throw new StoreError('Unauthorized', `etcd: user ${auth.user}: ${e.message}`);
        throw e;
      });
    return this.token;
  }

  private key(resource: string, namespace: string, name?: string): string {
    resourceInfo(resource);
    checkSegment('resource', resource);
    checkSegment('namespace', namespace);
    if (name !== undefined) checkSegment('name', name);
    return `${PREFIX}${resource}/${namespace}/${name ?? ''}`;
  }

  /**
   * POSTs to the gateway with the auth token (when auth is on); a token etcd no longer accepts
   * (expired, or etcd restarted) is renewed once.
   */
  private async call<T>(path: string, body: unknown): Promise<T> {
    const token = this.authToken();
    if (!token) return this.post<T>(path, body, undefined);
    const t = await token;
    try {
      return await this.post<T>(path, body, t);
    } catch (e) {
      if (!(e instanceof StoreError && e.code === 'Unauthorized' && /invalid auth token|token/i.test(e.message))) throw e;
      if (this.token === token) this.token = undefined;
      return this.post<T>(path, body, await this.authToken()!);
    }
  }

  /** POSTs to the first endpoint that answers; etcd errors name the endpoint and the call. */
  private async post<T>(path: string, body: unknown, token: string | undefined): Promise<T> {
    const payload = JSON.stringify(body);
    let lastError: Error | undefined;
    for (const ep of this.endpoints) {
      try {
        return await new Promise<T>((resolveCall, reject) => {
          const req = this.open(new URL(path, ep), {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...(token ? { authorization: token } : {}) },
            timeout: this.timeoutMs,
          }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => { text += d; });
            res.on('end', () => {
              if (res.statusCode === 200) { resolveCall(JSON.parse(text) as T); return; }
              reject(gatewayError(`etcd ${ep.host}${path}`, res.statusCode ?? 0, text));
            });
          });
          req.on('timeout', () => req.destroy(new StoreError('Unavailable', `etcd ${ep.host}${path}: no answer in ${this.timeoutMs} ms`)));
          req.on('error', (e) => reject(e instanceof StoreError ? e : new StoreError('Unavailable', `etcd ${ep.host}${path}: ${transportMessage(e)}`)));
          req.end(payload);
        });
      } catch (e) {
        // Auth and permission errors are the cluster's answer, not one endpoint's trouble.
        if (e instanceof StoreError && (e.code === 'Unauthorized' || e.code === 'Forbidden')) throw e;
        lastError = e as Error;
      }
    }
    throw lastError!;
  }

  private decode(kv: KeyValue): StoredObject {
    const o = JSON.parse(unb64(kv.value ?? '')) as StoredObject;
    o.metadata.resourceVersion = kv.mod_revision ?? '0';
    return o;
  }

  private async getKv(key: string): Promise<KeyValue | undefined> {
    const r = await this.call<RangeResponse>('/v3/kv/range', { key: b64(key) });
    return r.kvs?.[0];
  }

  async get(resource: string, namespace: string, name: string): Promise<StoredObject | undefined> {
    const kv = await this.getKv(this.key(resource, namespace, name));
    return kv ? this.decode(kv) : undefined;
  }

  private prefix(resource: string, namespace?: string): string {
    resourceInfo(resource);
    checkSegment('resource', resource);
    return namespace === undefined ? `${PREFIX}${resource}/` : this.key(resource, namespace);
  }

  private async listAt(resource: string, namespace?: string): Promise<{ items: StoredObject[]; resourceVersion: string }> {
    const prefix = this.prefix(resource, namespace);
    const r = await this.call<RangeResponse>('/v3/kv/range', { key: b64(prefix), range_end: b64(prefixEnd(prefix)), sort_order: 'ASCEND', sort_target: 'KEY' });
    return { items: (r.kvs ?? []).map((kv) => this.decode(kv)), resourceVersion: r.header?.revision ?? '0' };
  }

  async list(resource: string, namespace?: string, name?: string): Promise<StoredObject[]> {
    if (name !== undefined) checkSegment('name', name);
    const items = (await this.listAt(resource, namespace)).items;
    return name === undefined ? items : items.filter((o) => o.metadata.name === name);
  }

  /** Stored without resourceVersion: the revision is etcd's. */
  private encode(o: StoredObject): string {
    const { resourceVersion: _rv, ...metadata } = o.metadata;
    return b64(JSON.stringify({ ...o, metadata }));
  }

  async create(resource: string, obj: StoredObject): Promise<StoredObject> {
    const key = this.key(resource, obj.metadata.namespace, obj.metadata.name);
    const stored: StoredObject = { ...obj, metadata: { ...obj.metadata, uid: randomUUID(), creationTimestamp: new Date().toISOString() } };
    if (resourceInfo(resource).statusSubresource) delete stored.status;
    const r = await this.call<TxnResponse>('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'CREATE', create_revision: '0', result: 'EQUAL' }],
      success: [{ request_put: { key: b64(key), value: this.encode(stored) } }],
    });
    if (!r.succeeded) throw new StoreError('AlreadyExists', `${resource} ${obj.metadata.namespace}/${obj.metadata.name} already exists`);
    return (await this.get(resource, obj.metadata.namespace, obj.metadata.name))!;
  }

  /** Read-modify-write as a compare-and-swap; `resourceVersion` (when set) must be the stored one. */
  protected async modify(resource: string, namespace: string, name: string, resourceVersion: string | undefined,
    change: (cur: StoredObject) => StoredObject): Promise<StoredObject> {
    const key = this.key(resource, namespace, name);
    const kv = await this.getKv(key);
    if (!kv) throw new StoreError('NotFound', `${resource} ${namespace}/${name} not found`);
    const cur = this.decode(kv);
    const conflict = () => new StoreError('Conflict',
      `${resource} ${namespace}/${name} was modified (resourceVersion ${cur.metadata.resourceVersion}, update based on ${resourceVersion})`);
    if (resourceVersion !== undefined && resourceVersion !== cur.metadata.resourceVersion) throw conflict();
    const next = change(cur);
    if (next.status === undefined) delete next.status;
    // Compare-and-swap on the revision we read: a writer in between makes this a Conflict.
    const r = await this.call<TxnResponse>('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'MOD', mod_revision: kv.mod_revision, result: 'EQUAL' }],
      success: [{ request_put: { key: b64(key), value: this.encode(next) } }],
    });
    if (!r.succeeded) throw conflict();
    return (await this.get(resource, namespace, name))!;
  }

  /** etcd's own watch (POST /v3/watch streams JSON lines); a compacted revision makes the reflector list again. */
  watch(resource: string, namespace: string | undefined, onEvent: (e: WatchEvent) => void, opts?: WatchOptions): StoreWatch {
    const prefix = this.prefix(resource, namespace);
    const source: WatchSource = {
      list: () => this.listAt(resource, namespace),
      stream: (rv, emit, progress, signal) => this.stream(prefix, rv, emit, progress, signal),
    };
    return reflect(source, onEvent, opts);
  }

  private stream(prefix: string, rv: string, emit: (e: WatchEvent) => void, progress: (rv?: string) => void, signal: AbortSignal): Promise<void> {
    const ep = this.endpoints[0]!;
    const body = JSON.stringify({ create_request: { key: b64(prefix), range_end: b64(prefixEnd(prefix)), start_revision: String(BigInt(rv) + 1n), prev_kv: true, progress_notify: true } });
    return (async () => {
      const token = await this.authToken();
      return new Promise<void>((resolveStream, reject) => {
      const req = this.open(new URL('/v3/watch', ep), { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) }, signal }, (res) => {
        if (res.statusCode !== 200) {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => { text += d; });
          res.on('end', () => {
            const e = gatewayError(`etcd ${ep.host}/v3/watch`, res.statusCode ?? 0, text);
            if (e.code === 'Unauthorized') this.token = undefined; // the reflector retries with a new one
            reject(e);
          });
          return;
        }
        readJsonLines(res, (v) => {
          const msg = v as WatchResponse;
          const r = msg.result;
          if (msg.error || !r) {
            if (/auth token|permission denied/i.test(msg.error?.message ?? '')) this.token = undefined;
            req.destroy(new StoreError('Unavailable', `etcd ${ep.host}/v3/watch: ${msg.error?.message ?? 'no result'}`));
            return false;
          }
          if (r.compact_revision && r.compact_revision !== '0') {
            req.destroy(new StoreError('Gone', `etcd compacted past revision ${rv} (now ${r.compact_revision})`));
            return false;
          }
          if (r.canceled) {
            req.destroy(new StoreError('Unavailable', `etcd ${ep.host}/v3/watch canceled: ${r.cancel_reason ?? ''}`));
            return false;
          }
          for (const ev of r.events ?? []) {
            if (ev.type === 'DELETE') {
              if (!ev.prev_kv) continue;
              const o = this.decode(ev.prev_kv);
              o.metadata.resourceVersion = ev.kv.mod_revision ?? o.metadata.resourceVersion;
              emit({ type: 'DELETED', object: o });
            } else emit({ type: 'MODIFIED', object: this.decode(ev.kv) });
          }
          // A progress notification (no events, not the creation ack) comes only once the
          // watcher has caught up, so its revision is safe to resume from; the creation ack's
          // is not (the replay from start_revision follows it).
          if (r.created) progress(); // open
          else if (!r.events?.length && r.header?.revision) progress(r.header.revision);
          return true;
        }, (e) => req.destroy(new StoreError('Unavailable', `etcd ${ep.host}/v3/watch: bad watch event: ${e.message}`)));
        res.on('end', () => resolveStream());
        res.on('error', (e) => reject(e));
      });
      req.on('error', (e) => {
        if (signal.aborted) resolveStream();
        else reject(e instanceof StoreError ? e : new StoreError('Unavailable', `etcd ${ep.host}/v3/watch: ${transportMessage(e)}`));
      });
      req.end(body);
      });
    })();
  }

  async delete(resource: string, namespace: string, name: string): Promise<boolean> {
    const r = await this.call<DeleteResponse>('/v3/kv/deleterange', { key: b64(this.key(resource, namespace, name)) });
    return Number(r.deleted ?? 0) > 0;
  }

  // Raw keys outside this store's own layout: the original meshnet's `/<pod>/links` (legacy-etcd.ts).

  /** Every key under `prefix`, with its value and the revision it was last written at. */
  async rawRange(prefix: string): Promise<{ key: string; value: string; modRevision: string }[]> {
    const r = await this.call<RangeResponse>('/v3/kv/range', { key: b64(prefix), range_end: b64(prefixEnd(prefix)), sort_order: 'ASCEND', sort_target: 'KEY' });
    return (r.kvs ?? []).map((kv) => ({ key: unb64(kv.key), value: unb64(kv.value ?? ''), modRevision: kv.mod_revision ?? '0' }));
  }

  async rawPut(key: string, value: string): Promise<void> {
    await this.call('/v3/kv/put', { key: b64(key), value: b64(value) });
  }

  /** Deletes `key`, or with `prefix` every key under it. */
  async rawDelete(key: string, prefix = false): Promise<void> {
    await this.call<DeleteResponse>('/v3/kv/deleterange', { key: b64(key), ...(prefix ? { range_end: b64(prefixEnd(key)) } : {}) });
  }
}

/** The gateway's error answer as a StoreError: auth problems are Unauthorized/Forbidden, the rest Unavailable. */
function gatewayError(where: string, status: number, text: string): StoreError {
  let said = text.slice(0, 200);
  try {
    const g = JSON.parse(text) as GatewayError;
    said = g.message ?? g.error ?? said;
  } catch { /* not JSON */ }
  // gRPC codes through the gateway: 16 UNAUTHENTICATED (HTTP 401), 7 PERMISSION_DENIED (HTTP 403).
  if (/CommonName of client sending a request against gateway/.test(said)) {
    return new StoreError('Unauthorized', `${where}: etcd refuses, on its JSON gateway (which meshnet-ts speaks), a client certificate that has a Common Name while its auth is on: use one without (scripts/make-certs.sh with NO_CN=1), or no client certificate, with user and password-file (etcd said: ${said})`);
  }
  if (status === 401 || /authentication failed|invalid auth token|user name is empty|auth: revision/.test(said)) return new StoreError('Unauthorized', `${where}: ${said}`);
  if (status === 403 || /permission denied/.test(said)) return new StoreError('Forbidden', `${where}: ${said}`);
  return new StoreError('Unavailable', `${where}: HTTP ${status}: ${said}`);
}

/** Transport errors, with TLS ones said plainly (the usual misconfigurations). */
function transportMessage(e: Error & { code?: string }): string {
  if (e.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || e.code === 'SELF_SIGNED_CERT_IN_CHAIN' || e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    return `TLS: etcd's certificate is not signed by the CA given (cacert): ${e.message}`;
  }
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `TLS: etcd's certificate does not name this endpoint: ${e.message}`;
  if (/certificate required|alert number 116|bad certificate|alert number 42/i.test(e.message)) return `TLS: etcd refused this client (no or untrusted client certificate: cert, key): ${e.message}`;
  return e.message;
}
