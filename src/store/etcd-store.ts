// The etcd backend: the private store of the original meshnet design, and what lets several
// machines share one topology without Kubernetes. Speaks etcd v3's JSON gateway (/v3/kv/*) over
// plain HTTP, so it needs no gRPC stack or extra package on the plugin path. resourceVersion is
// the key's mod_revision; create and update are transactions comparing revisions, so conflicts
// behave as the Kubernetes API's do.
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { mergePatch } from './merge-patch';
import { reflect, type WatchSource } from './reflector';
import { requireStatusSubresource, resourceInfo } from './resources';
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

export class EtcdStore implements Store {
  private readonly endpoints: URL[];

  /** `endpoints`: one or more http://host:port of the etcd cluster, tried in order. */
  constructor(endpoints: string[], private readonly timeoutMs = 5000) {
    if (endpoints.length === 0) throw new StoreError('Invalid', 'etcd store needs at least one endpoint');
    this.endpoints = endpoints.map((e) => {
      const u = new URL(e);
      if (u.protocol !== 'http:') throw new StoreError('Invalid', `etcd endpoint ${e}: only http:// is supported`);
      return u;
    });
  }

  private key(resource: string, namespace: string, name?: string): string {
    resourceInfo(resource);
    checkSegment('resource', resource);
    checkSegment('namespace', namespace);
    if (name !== undefined) checkSegment('name', name);
    return `${PREFIX}${resource}/${namespace}/${name ?? ''}`;
  }

  /** POSTs to the first endpoint that answers; etcd errors name the endpoint and the call. */
  private async call<T>(path: string, body: unknown): Promise<T> {
    const payload = JSON.stringify(body);
    let lastError: Error | undefined;
    for (const ep of this.endpoints) {
      try {
        return await new Promise<T>((resolveCall, reject) => {
          const req = request(new URL(path, ep), {
            method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
            timeout: this.timeoutMs,
          }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => { text += d; });
            res.on('end', () => {
              if (res.statusCode !== 200) reject(new StoreError('Unavailable', `etcd ${ep.host}${path}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
              else resolveCall(JSON.parse(text) as T);
            });
          });
          req.on('timeout', () => req.destroy(new StoreError('Unavailable', `etcd ${ep.host}${path}: no answer in ${this.timeoutMs} ms`)));
          req.on('error', (e) => reject(e instanceof StoreError ? e : new StoreError('Unavailable', `etcd ${ep.host}${path}: ${e.message}`)));
          req.end(payload);
        });
      } catch (e) {
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
  private async modify(resource: string, namespace: string, name: string, resourceVersion: string | undefined,
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

  async update(resource: string, obj: StoredObject): Promise<StoredObject> {
    const { namespace, name, resourceVersion, labels, annotations } = obj.metadata;
    const withStatus = !resourceInfo(resource).statusSubresource;
    return this.modify(resource, namespace, name, resourceVersion, (cur) => ({
      ...obj,
      status: withStatus ? obj.status : cur.status,
      metadata: { ...cur.metadata, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
    }));
  }

  async updateStatus(resource: string, obj: StoredObject): Promise<StoredObject> {
    requireStatusSubresource(resource);
    const { namespace, name, resourceVersion } = obj.metadata;
    return this.modify(resource, namespace, name, resourceVersion, (cur) => ({ ...cur, status: obj.status, metadata: { ...cur.metadata } }));
  }

  async patchStatus(resource: string, namespace: string, name: string, patch: Record<string, unknown>, resourceVersion?: string): Promise<StoredObject> {
    return this.modify(resource, namespace, name, resourceVersion, (cur) => ({
      ...cur, status: mergePatch(cur.status, patch), metadata: { ...cur.metadata },
    }));
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
    return new Promise<void>((resolveStream, reject) => {
      const req = request(new URL('/v3/watch', ep), { method: 'POST', headers: { 'content-type': 'application/json' }, signal }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new StoreError('Unavailable', `etcd ${ep.host}/v3/watch: HTTP ${res.statusCode}`));
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            const msg = JSON.parse(line) as WatchResponse;
            const r = msg.result;
            if (msg.error || !r) { req.destroy(new StoreError('Unavailable', `etcd ${ep.host}/v3/watch: ${msg.error?.message ?? 'no result'}`)); return; }
            if (r.compact_revision && r.compact_revision !== '0') {
              req.destroy(new StoreError('Gone', `etcd compacted past revision ${rv} (now ${r.compact_revision})`));
              return;
            }
            if (r.canceled) { req.destroy(new StoreError('Unavailable', `etcd ${ep.host}/v3/watch canceled: ${r.cancel_reason ?? ''}`)); return; }
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
          }
        });
        res.on('end', () => resolveStream());
        res.on('error', (e) => reject(e));
      });
      req.on('error', (e) => {
        if (signal.aborted) resolveStream();
        else reject(e instanceof StoreError ? e : new StoreError('Unavailable', `etcd ${ep.host}/v3/watch: ${e.message}`));
      });
      req.end(body);
    });
  }

  async delete(resource: string, namespace: string, name: string): Promise<boolean> {
    const r = await this.call<DeleteResponse>('/v3/kv/deleterange', { key: b64(this.key(resource, namespace, name)) });
    return Number(r.deleted ?? 0) > 0;
  }
}
