// The Kubernetes backend: meshnet's custom resources (deploy/base/crds) through the API server, as
// upstream meshnet and KNE keep them. Status goes through the status subresource as a JSON merge
// patch (client-node would send a JSON Patch by default); GWireKObj, which has no status
// subresource, is written with a full update. Every API failure becomes a StoreError whose
// message names the server and what the server said (403s name the missing verb and resource).
import { readJsonLines } from '../json-lines';
import { reflect, type WatchSource } from '../reflector';
import { requireStatusSubresource, resourceInfo, type ResourceInfo } from '../resources';
import {
  StoreError, retryOnConflict, type Store, type StoredObject, type StoreWatch, type WatchEvent, type WatchOptions,
} from '../store';
import { connect, type KubeConnection, type KubeResponse } from './connection';

const SEGMENT = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const MERGE_PATCH = { 'content-type': 'application/merge-patch+json' };
/** Server-side watch timeout: long enough to be cheap, short enough to re-check the connection. */
const WATCH_TIMEOUT_S = 300;

interface Status {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string };
}

function checkSegment(kind: string, v: string): void {
  if (!SEGMENT.test(v) || v.length > 253) throw new StoreError('Invalid', `invalid ${kind} "${v}"`);
}

export class KubeStore implements Store {
  private readonly conn: KubeConnection;

  /** `ref`: `kubernetes` (in-cluster) or `kubernetes:PATH` (a kubeconfig). */
  constructor(ref: string, conn?: KubeConnection) {
    this.conn = conn ?? connect(ref);
  }

  get server(): string {
    return this.conn.server;
  }

  close(): void {
    this.conn.close();
  }

  private path(r: ResourceInfo, namespace?: string, name?: string, sub?: 'status'): string {
    if (namespace !== undefined) checkSegment('namespace', namespace);
    if (name !== undefined) checkSegment('name', name);
    let p = `/apis/${r.group}/${r.version}`;
    if (namespace !== undefined) p += `/namespaces/${namespace}`;
    p += `/${r.plural}`;
    if (name !== undefined) p += `/${name}`;
    if (sub) p += `/${sub}`;
    return p;
  }

  /** A failed response as a StoreError a caller can act on; the message names the server. */
  private failure(r: ResourceInfo, res: KubeResponse, what: string): StoreError {
    let st: Status = {};
    try {
      st = JSON.parse(res.body) as Status;
    } catch { /* not a Status */ }
    const said = st.message ?? res.body.slice(0, 200);
    const at = `Kubernetes API ${this.conn.server}`;
    switch (res.status) {
      case 401:
        return new StoreError('Unauthorized', `${at}: 401 Unauthorized ${what}: the credentials from ${this.conn.source} were refused`);
      case 403:
        return new StoreError('Forbidden', `${at}: 403 Forbidden ${what}: ${said} (the meshnet ClusterRole in deploy/base/rbac.yaml grants what meshnetd needs)`);
      case 404:
        // An object that is not there names itself in the Status details; a bare 404 means the
        // API server does not serve the resource at all (CRD not installed).
        if (st.details?.kind === r.plural || st.details?.kind === 'namespaces') return new StoreError('NotFound', `${at}: ${said}`);
        return new StoreError('Invalid', `${at} does not serve ${r.plural}.${r.group}/${r.version} (${said}): install meshnet's CRDs (kubectl apply -k deploy/base)`);
      case 409:
        return new StoreError(st.reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict', `${at}: ${said}`);
      case 410:
        return new StoreError('Gone', `${at}: ${said}`);
      case 400: case 415: case 422:
        return new StoreError('Invalid', `${at}: ${res.status} ${what}: ${said}`);
      default:
        return new StoreError('Unavailable', `${at}: ${res.status} ${what}: ${said}`);
    }
  }

  private async call(r: ResourceInfo, method: string, path: string, what: string, body?: unknown, headers?: Record<string, string>): Promise<KubeResponse> {
    const res = await this.conn.request(method, path, body, headers);
    if (res.status >= 200 && res.status < 300) return res;
    throw this.failure(r, res, what);
  }

  private decode(r: ResourceInfo, text: string): StoredObject {
    const o = JSON.parse(text) as StoredObject;
    return withTypeMeta(r, o);
  }

  async get(resource: string, namespace: string, name: string): Promise<StoredObject | undefined> {
    const r = resourceInfo(resource);
    try {
      const res = await this.call(r, 'GET', this.path(r, namespace, name), `getting ${resource} ${namespace}/${name}`);
      return this.decode(r, res.body);
    } catch (e) {
      if (e instanceof StoreError && e.code === 'NotFound') return undefined;
      throw e;
    }
  }

  private async listAt(resource: string, namespace?: string, name?: string): Promise<{ items: StoredObject[]; resourceVersion: string }> {
    const r = resourceInfo(resource);
    if (name !== undefined) checkSegment('name', name);
    const q = name !== undefined ? `?${new URLSearchParams({ fieldSelector: `metadata.name=${name}` })}` : '';
    const res = await this.call(r, 'GET', `${this.path(r, namespace)}${q}`, `listing ${resource}${namespace ? ` in ${namespace}` : ''}${name ? ` named ${name}` : ''}`);
    const list = JSON.parse(res.body) as { items?: StoredObject[]; metadata?: { resourceVersion?: string } };
    const items = (list.items ?? []).map((o) => withTypeMeta(r, o));
    items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return { items, resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  async list(resource: string, namespace?: string, name?: string): Promise<StoredObject[]> {
    return (await this.listAt(resource, namespace, name)).items;
  }

  async create(resource: string, obj: StoredObject): Promise<StoredObject> {
    const r = resourceInfo(resource);
    const { namespace, name } = obj.metadata;
    checkSegment('name', name);
    const body = { ...obj, apiVersion: `${r.group}/${r.version}`, kind: r.kind, metadata: cleanMeta(obj.metadata) };
    const res = await this.call(r, 'POST', this.path(r, namespace), `creating ${resource} ${namespace}/${name}`, body);
    return this.decode(r, res.body);
  }

  /**
   * PUT of the whole object. Custom resources refuse a PUT without resourceVersion, so an
   * unconditional update reads the current version first (and retries if it moved).
   */
  private async put(resource: string, obj: StoredObject, sub?: 'status'): Promise<StoredObject> {
    const r = resourceInfo(resource);
    const { namespace, name, resourceVersion } = obj.metadata;
    const what = `${sub ? 'updating the status of' : 'updating'} ${resource} ${namespace}/${name}`;
    const once = async (rv: string | undefined) => {
      const body = { ...obj, apiVersion: `${r.group}/${r.version}`, kind: r.kind, metadata: { ...cleanMeta(obj.metadata), ...(rv ? { resourceVersion: rv } : {}) } };
      const res = await this.call(r, 'PUT', this.path(r, namespace, name, sub), what, body);
      return this.decode(r, res.body);
    };
    if (resourceVersion !== undefined) return once(resourceVersion);
    return retryOnConflict(async () => {
      const cur = await this.get(resource, namespace, name);
      if (!cur) throw new StoreError('NotFound', `Kubernetes API ${this.conn.server}: ${resource} ${namespace}/${name} not found`);
      return once(cur.metadata.resourceVersion);
    });
  }

  async update(resource: string, obj: StoredObject): Promise<StoredObject> {
    return this.put(resource, obj);
  }

  async updateStatus(resource: string, obj: StoredObject): Promise<StoredObject> {
    requireStatusSubresource(resource);
    return this.put(resource, obj, 'status');
  }

  async patchStatus(resource: string, namespace: string, name: string, patch: Record<string, unknown>, resourceVersion?: string): Promise<StoredObject> {
    const r = resourceInfo(resource);
    const body = { status: patch, ...(resourceVersion !== undefined ? { metadata: { resourceVersion } } : {}) };
    const path = this.path(r, namespace, name, r.statusSubresource ? 'status' : undefined);
    const res = await this.call(r, 'PATCH', path, `patching the status of ${resource} ${namespace}/${name}`, body, MERGE_PATCH);
    return this.decode(r, res.body);
  }

  async delete(resource: string, namespace: string, name: string): Promise<boolean> {
    const r = resourceInfo(resource);
    try {
      await this.call(r, 'DELETE', this.path(r, namespace, name), `deleting ${resource} ${namespace}/${name}`);
      return true;
    } catch (e) {
      if (e instanceof StoreError && e.code === 'NotFound') return false;
      throw e;
    }
  }

  watch(resource: string, namespace: string | undefined, onEvent: (e: WatchEvent) => void, opts?: WatchOptions): StoreWatch {
    const r = resourceInfo(resource);
    const source: WatchSource = {
      list: () => this.listAt(resource, namespace),
      stream: (rv, emit, progress, signal) => this.stream(r, namespace, rv, emit, progress, signal),
    };
    return reflect(source, onEvent, opts);
  }

  /** One watch request: JSON lines until the server ends it; ERROR 410 (or HTTP 410) is Gone. */
  private async stream(r: ResourceInfo, namespace: string | undefined, rv: string, emit: (e: WatchEvent) => void,
    progress: (rv?: string) => void, signal: AbortSignal): Promise<void> {
    const q = new URLSearchParams({ watch: 'true', resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds: String(WATCH_TIMEOUT_S) });
    let res;
    try {
      res = await this.conn.stream(`${this.path(r, namespace)}?${q}`, signal);
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
    if (res.statusCode !== 200) {
      let body = '';
      for await (const c of res) body += String(c);
      throw this.failure(r, { status: res.statusCode ?? 0, body }, `watching ${r.plural}`);
    }
    progress(); // open
    await new Promise<void>((resolve, reject) => {
      // Settle first: destroying the response emits 'aborted' at once, which must not win.
      const fail = (e: Error) => { reject(e); res.destroy(); };
      readJsonLines(res, (v) => {
        const ev = v as { type?: string; object?: StoredObject & Status };
        const o = ev.object;
        if (!o) return true;
        if (ev.type === 'ERROR') {
          fail(o.code === 410 ? new StoreError('Gone', `Kubernetes API ${this.conn.server}: ${o.message ?? 'resource version too old'}`)
            : new StoreError('Unavailable', `Kubernetes API ${this.conn.server}: watch error ${o.code}: ${o.message}`));
          return false;
        }
        if (ev.type === 'BOOKMARK') {
          if (o.metadata?.resourceVersion) progress(o.metadata.resourceVersion);
          return true;
        }
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED' || ev.type === 'DELETED') emit({ type: ev.type, object: withTypeMeta(r, o) });
        return true;
      }, (e) => fail(new StoreError('Unavailable', `Kubernetes API ${this.conn.server}: bad watch event: ${e.message}`)));
      res.on('end', () => resolve());
      res.on('aborted', () => (signal.aborted ? resolve() : reject(new StoreError('Unavailable', `Kubernetes API ${this.conn.server}: watch connection lost`))));
      res.on('error', (e) => (signal.aborted ? resolve() : reject(new StoreError('Unavailable', `Kubernetes API ${this.conn.server}: watch connection lost: ${e.message}`))));
      res.on('close', () => { if (!res.complete) { if (signal.aborted) resolve(); else reject(new StoreError('Unavailable', `Kubernetes API ${this.conn.server}: watch connection lost`)); } });
    });
  }
}

const key = (o: StoredObject) => `${o.metadata.namespace}/${o.metadata.name}`;

/** List items may come without apiVersion and kind; ours always carry them. */
function withTypeMeta(r: ResourceInfo, o: StoredObject): StoredObject {
  return { ...o, apiVersion: o.apiVersion ?? `${r.group}/${r.version}`, kind: o.kind ?? r.kind };
}

/** Metadata a client may send: identity, labels and annotations (not server-owned fields). */
function cleanMeta(m: StoredObject['metadata']): Record<string, unknown> {
  return {
    name: m.name, namespace: m.namespace,
    ...(m.labels ? { labels: m.labels } : {}), ...(m.annotations ? { annotations: m.annotations } : {}),
  };
}
