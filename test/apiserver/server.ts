// An in-test Kubernetes API server double, faithful where clients break: resourceVersion and 409
// conflicts, the status subresource (a main-resource write ignores status, a /status write
// ignores the rest), JSON merge and JSON patches, CRD schema validation with types and pruning of
// unknown fields, label selectors, field selectors on custom resources (metadata.name and
// metadata.namespace only), namespaces that must exist, watches with bookmarks, 410 Gone and
// dropped connections, bearer-token authentication and RBAC from ClusterRole rules. CRDs applied
// to it register their kinds, so it is driven with the real kubectl (test/e2e/kube-double.test.ts)
// to hold it to the real protocol. Not here: server-side apply, strategic merge of built-in kinds
// (treated as a merge patch), admission, pagination (limit is ignored: every list is one page).
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { mergePatch } from '../../src/store/merge-patch';
import { makeTls, type TlsMaterial } from './certs';
import {
  BUILTINS, CrdError, apiGroupList, apiResourceList, groupVersion, humanDuration, jsonPathValue, openapiGroupVersion,
  openapiRoot, resourcesOfCrd, type ResourceDef,
} from './registry';
import { validate, type FieldCause } from './schema';
import { SelectorError, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector, type FieldRequirement, type Requirement } from './selectors';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
  /** Set for a Role's rule (a RoleBinding grants it in the Role's namespace only); absent for a ClusterRole's. */
  namespace?: string;
}

export interface UserDef {
  token: string;
  /** e.g. system:serviceaccount:meshnet:meshnet */
  name: string;
  /** 'all' for cluster-admin. */
  rules: PolicyRule[] | 'all';
}

export interface DoubleOptions {
  host?: string;
  port?: number;
  /** HTTPS with a throw-away CA (default) or plain HTTP. */
  tls?: boolean;
  users?: UserDef[];
  bookmarkIntervalMs?: number;
  /** Watch history kept for resuming; older versions answer 410 Gone. */
  historyLimit?: number;
}

export const ADMIN_TOKEN = 'double-admin-token';

interface Stored {
  def: ResourceDef;
  obj: Obj;
}

interface WatchEventRecord {
  rv: number;
  key: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  obj: Obj;
  old?: Obj;
}

interface Watcher {
  def: ResourceDef;
  namespace?: string;
  labels: Requirement[];
  fields: FieldRequirement[];
  res: ServerResponse;
  bookmarks?: NodeJS.Timeout;
  timeout?: NodeJS.Timeout;
}

export interface RequestRecord {
  method: string;
  path: string;
  verb: string;
  resource: string;
  user: string;
  status: number;
  contentType?: string;
}

class HttpError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: Obj) {
    super(message);
  }
}

const qualified = (d: ResourceDef) => (d.group ? `${d.plural}.${d.group}` : d.plural);
const defKey = (d: ResourceDef) => `${d.group}/${d.plural}`;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function notFound(d: ResourceDef, name: string): HttpError {
  return new HttpError(404, 'NotFound', `${qualified(d)} "${name}" not found`, { name, group: d.group, kind: d.plural });
}

function invalid(d: ResourceDef, name: string, causes: FieldCause[]): HttpError {
  const kind = d.group ? `${d.kind}.${d.group}` : d.kind;
  const text = causes.map((c) => `${c.field}: ${c.message}`);
  return new HttpError(422, 'Invalid', `${kind} "${name}" is invalid: ${text.length > 1 ? `[${text.join(', ')}]` : text[0]}`,
    { name, group: d.group, kind: d.kind, causes });
}

/**
 * A fault the double injects, for the store-fault tests: requests matching `method` and `path`
 * (a regex on the path with query) get `status` (with `retryAfter` seconds, as a real API server
 * sends with 429 and 503) for the next `times` matches, or only a delay of `delayMs`; `drop`
 * cuts the connection instead of answering (a dropped watch, a load balancer reset).
 */
export interface Fault {
  method?: string;
  path: RegExp;
  status?: number;
  retryAfter?: number;
  delayMs?: number;
  drop?: boolean;
  times: number;
}

export class ApiServerDouble {
  readonly requests: RequestRecord[] = [];
  private faults: Fault[] = [];

  /** Injects `f` (see Fault); returns a function that removes it. */
  injectFault(f: Fault): () => void {
    const own = { ...f };
    this.faults.push(own);
    return () => { this.faults = this.faults.filter((x) => x !== own); };
  }

  private async applyFault(req: IncomingMessage, res: ServerResponse, path: string, rec: RequestRecord): Promise<boolean> {
    const f = this.faults.find((x) => x.times > 0 && (!x.method || x.method === req.method) && x.path.test(path));
    if (!f) return false;
    f.times--;
    if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
    if (f.drop) {
      rec.status = 0;
      req.socket.destroy();
      return true;
    }
    if (f.status === undefined) return false; // latency only
    rec.status = f.status;
    const reason = f.status === 429 ? 'TooManyRequests' : f.status === 409 ? 'Conflict' : f.status === 503 ? 'ServiceUnavailable' : 'InternalError';
    res.writeHead(f.status, { 'content-type': 'application/json', ...(f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {}) });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, code: f.status,
      message: f.status === 409 ? 'Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again'
        : f.status === 429 ? 'Too many requests, please try again later.' : `injected fault ${f.status}` }));
    return true;
  }
  private readonly objects = new Map<string, Stored>();
  private defs: ResourceDef[] = [...BUILTINS];
  private rv = 1;
  private events: WatchEventRecord[] = [];
  /** Watches from versions older than this answer 410 Gone. */
  private compactedRv = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly users = new Map<string, UserDef>();
  private server!: Server;
  private tlsMaterial?: TlsMaterial;
  url = '';
  port = 0;

  private constructor(private readonly opts: DoubleOptions) {
    this.users.set(ADMIN_TOKEN, { token: ADMIN_TOKEN, name: 'kubernetes-admin', rules: 'all' });
    for (const u of opts.users ?? []) this.users.set(u.token, u);
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      this.put(this.defOf('', 'namespaces')!, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }, 'ADDED');
    }
  }

  static async start(opts: DoubleOptions = {}): Promise<ApiServerDouble> {
    const d = new ApiServerDouble(opts);
    await d.listen();
    return d;
  }

  get caPem(): string | undefined {
    return this.tlsMaterial?.caPem;
  }

  private async listen(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => { void this.handle(req, res); };
    if (this.opts.tls === false) this.server = createHttpServer(handler);
    else {
      this.tlsMaterial = makeTls(this.opts.host && this.opts.host !== '127.0.0.1' ? [this.opts.host] : []);
      this.server = createHttpsServer({ key: this.tlsMaterial.keyPem, cert: this.tlsMaterial.certPem }, handler);
    }
    this.server.on(this.opts.tls === false ? 'connection' : 'secureConnection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    const host = this.opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, host, () => resolve());
    });
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    this.url = `${this.opts.tls === false ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  /** A kubeconfig (JSON, which kubectl and client-node read as YAML) for `token`. */
  kubeconfig(token = ADMIN_TOKEN, server = this.url): string {
    const cluster: Obj = { server };
    if (this.tlsMaterial) cluster['certificate-authority-data'] = Buffer.from(this.tlsMaterial.caPem).toString('base64');
    else cluster['insecure-skip-tls-verify'] = true;
    return `${JSON.stringify({
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: 'double', cluster }],
      users: [{ name: 'u', user: { token } }],
      contexts: [{ name: 'double', context: { cluster: 'double', user: 'u', namespace: 'default' } }],
      'current-context': 'double',
    }, null, 2)}\n`;
  }

  addUser(u: UserDef): void {
    this.users.set(u.token, u);
  }

  /** Cuts every open watch connection (the clients see a reset), as a load balancer or an API server restart does. */
  dropWatches(): number {
    const n = this.watchers.size;
    for (const w of [...this.watchers]) {
      // Cut, not ended: no terminating chunk reaches the client, as when a connection breaks.
      w.res.socket?.destroy();
      this.endWatcher(w);
    }
    return n;
  }

  /** Cuts every connection, idle keep-alive ones included. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Forgets the watch history: a watch resuming from any version seen so far gets 410 Gone. */
  expireHistory(): void {
    this.compactedRv = this.rv;
    this.events = [];
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Test access to a stored object (a copy). */
  object(group: string, plural: string, namespace: string | undefined, name: string): Obj | undefined {
    const d = this.defs.find((x) => x.group === group && x.plural === plural);
    const s = d && this.objects.get(this.key(d, namespace, name));
    return s ? clone(s.obj) : undefined;
  }

  async stop(): Promise<void> {
    for (const w of [...this.watchers]) this.endWatcher(w);
    this.server.closeAllConnections?.();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  // ---- storage -------------------------------------------------------------------------------

  private defOf(group: string, plural: string, version?: string): ResourceDef | undefined {
    return this.defs.find((d) => d.group === group && d.plural === plural && (version === undefined || d.version === version));
  }

  private key(d: ResourceDef, namespace: string | undefined, name: string): string {
    return `${defKey(d)}|${d.namespaced ? namespace ?? '' : ''}|${name}`;
  }

  /** Stores `obj` with a new resourceVersion and tells watchers. */
  private put(d: ResourceDef, obj: Obj, type: 'ADDED' | 'MODIFIED', old?: Obj): Obj {
    const meta = obj.metadata as Obj;
    this.rv += 1;
    meta.resourceVersion = String(this.rv);
    const k = this.key(d, meta.namespace as string | undefined, meta.name as string);
    this.objects.set(k, { def: d, obj });
    this.emit({ rv: this.rv, key: defKey(d), type, obj: clone(obj), ...(old ? { old } : {}) });
    return clone(obj);
  }

  private remove(d: ResourceDef, namespace: string | undefined, name: string): Obj | undefined {
    const k = this.key(d, namespace, name);
    const s = this.objects.get(k);
    if (!s) return undefined;
    this.objects.delete(k);
    this.rv += 1;
    const obj = clone(s.obj);
    (obj.metadata as Obj).resourceVersion = String(this.rv);
    this.emit({ rv: this.rv, key: defKey(d), type: 'DELETED', obj });
    if (d.plural === 'namespaces' && !d.group) {
      // The namespace controller's work, done at once: everything in the namespace goes with it.
      for (const so of [...this.objects.values()]) {
        if (so.def.namespaced && (so.obj.metadata as Obj).namespace === name) this.remove(so.def, name, (so.obj.metadata as Obj).name as string);
      }
    }
    if (d.plural === 'customresourcedefinitions') this.unregisterCrd(name);
    return obj;
  }

  private emit(e: WatchEventRecord): void {
    this.events.push(e);
    const limit = this.opts.historyLimit ?? 10_000;
    if (this.events.length > limit) {
      const dropped = this.events.splice(0, this.events.length - limit);
      this.compactedRv = Math.max(this.compactedRv, dropped[dropped.length - 1]!.rv);
    }
    for (const w of this.watchers) if (defKey(w.def) === e.key) this.sendEvent(w, e);
  }

  private list(d: ResourceDef, namespace: string | undefined): Obj[] {
    const out: Obj[] = [];
    for (const s of this.objects.values()) {
      if (s.def !== d && defKey(s.def) !== defKey(d)) continue;
      if (d.namespaced && namespace !== undefined && (s.obj.metadata as Obj).namespace !== namespace) continue;
      out.push(s.obj);
    }
    return out.sort((a, b) => {
      const ka = `${(a.metadata as Obj).namespace ?? ''}/${(a.metadata as Obj).name}`;
      const kb = `${(b.metadata as Obj).namespace ?? ''}/${(b.metadata as Obj).name}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  }

  private registerCrd(crd: Obj): ResourceDef[] {
    const defs = resourcesOfCrd(crd);
    const name = (crd.metadata as Obj).name as string;
    this.defs = [...this.defs.filter((d) => d.crd !== name), ...defs];
    return defs;
  }

  private unregisterCrd(name: string): void {
    const gone = this.defs.filter((d) => d.crd === name);
    this.defs = this.defs.filter((d) => d.crd !== name);
    for (const d of gone) {
      for (const s of [...this.objects.values()]) {
        if (defKey(s.def) === defKey(d)) this.remove(s.def, (s.obj.metadata as Obj).namespace as string | undefined, (s.obj.metadata as Obj).name as string);
      }
    }
  }

  // ---- watches --------------------------------------------------------------------------------

  private matches(w: Watcher, obj: Obj): boolean {
    const meta = obj.metadata as Obj;
    if (w.namespace !== undefined && meta.namespace !== w.namespace) return false;
    if (!matchesLabels(w.labels, meta.labels as Record<string, string> | undefined)) return false;
    return matchesFields(w.fields, { 'metadata.name': meta.name as string, 'metadata.namespace': (meta.namespace as string) ?? '' });
  }

  private sendEvent(w: Watcher, e: WatchEventRecord): void {
    const now = this.matches(w, e.obj);
    const before = e.old ? this.matches(w, e.old) : false;
    let type: string = e.type;
    if (e.type === 'MODIFIED' && !now && before) type = 'DELETED';
    else if (e.type === 'MODIFIED' && now && !before && e.old) type = 'ADDED';
    else if (!now) return;
    this.write(w, { type, object: e.obj });
  }

  private write(w: Watcher, ev: Obj): void {
    if (!w.res.writableEnded && !w.res.destroyed) w.res.write(`${JSON.stringify(ev)}\n`);
  }

  private endWatcher(w: Watcher): void {
    clearInterval(w.bookmarks);
    clearTimeout(w.timeout);
    this.watchers.delete(w);
    if (!w.res.writableEnded) w.res.end();
  }

  private startWatch(d: ResourceDef, namespace: string | undefined, q: URLSearchParams, res: ServerResponse): void {
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'), this.fieldLabels(d));
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    const w: Watcher = { def: d, ...(namespace !== undefined ? { namespace } : {}), labels, fields, res };
    const from = q.get('resourceVersion');
    if (from === null || from === '' || from === '0') {
      for (const o of this.list(d, namespace)) if (this.matches(w, o)) this.write(w, { type: 'ADDED', object: clone(o) });
    } else {
      const n = Number(from);
      if (!Number.isInteger(n) || n < this.compactedRv) {
        // As the watch cache answers an expired version: HTTP 200, one ERROR event, end.
        this.write(w, { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
          message: `too old resource version: ${from} (${this.compactedRv})`, reason: 'Expired', code: 410 } });
        res.end();
        return;
      }
      for (const e of this.events) if (e.rv > n && e.key === defKey(d)) this.sendEvent(w, e);
    }
    this.watchers.add(w);
    const bookmarkMs = this.opts.bookmarkIntervalMs ?? 5000;
    if (q.get('allowWatchBookmarks') === 'true') {
      w.bookmarks = setInterval(() => this.write(w, {
        type: 'BOOKMARK', object: { kind: d.kind, apiVersion: groupVersion(d), metadata: { resourceVersion: String(this.rv) } },
      }), bookmarkMs);
    }
    const timeoutS = Number(q.get('timeoutSeconds') ?? 1800);
    w.timeout = setTimeout(() => this.endWatcher(w), Math.max(1, timeoutS) * 1000);
    res.on('close', () => this.endWatcher(w));
  }

  private fieldLabels(d: ResourceDef): string[] {
    return d.namespaced ? ['metadata.name', 'metadata.namespace'] : ['metadata.name'];
  }

  // ---- HTTP -----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const rec: RequestRecord = { method: req.method ?? 'GET', path: `${url.pathname}${url.search}`, verb: '', resource: '', user: '', status: 200,
      ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}) };
    this.requests.push(rec);
    try {
      const body = await readBody(req);
      if (this.faults.length > 0 && await this.applyFault(req, res, rec.path, rec)) return;
      await this.route(req, res, url, body, rec);
    } catch (e) {
      const err = e instanceof HttpError ? e
        : e instanceof SelectorError ? new HttpError(400, 'BadRequest', e.message)
          : new HttpError(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`);
      rec.status = err.code;
      if (res.headersSent) { res.end(); return; }
      sendJson(res, err.code, {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: err.message, reason: err.reason,
        ...(err.details ? { details: err.details } : {}), code: err.code,
      });
    }
  }

  private authenticate(req: IncomingMessage): UserDef {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const u = m ? this.users.get(m[1]!.trim()) : undefined;
    if (!u) throw new HttpError(401, 'Unauthorized', 'Unauthorized');
    return u;
  }

  private authorize(u: UserDef, verb: string, d: ResourceDef, sub: string | undefined, namespace: string | undefined, name: string | undefined): void {
    if (u.rules === 'all') return;
    const resource = sub ? `${d.plural}/${sub}` : d.plural;
    const ok = u.rules.some((r) =>
      (r.apiGroups.includes('*') || r.apiGroups.includes(d.group))
      && (r.resources.includes('*') || r.resources.includes(resource))
      && (r.verbs.includes('*') || r.verbs.includes(verb))
      && (!r.resourceNames?.length || (name !== undefined && r.resourceNames.includes(name)))
      && (r.namespace === undefined || r.namespace === namespace));
    if (ok) return;
    const where = d.namespaced && namespace !== undefined ? `in the namespace "${namespace}"` : 'at the cluster scope';
    const what = name !== undefined ? `${qualified(d)} "${name}"` : qualified(d);
    throw new HttpError(403, 'Forbidden',
      `${what} is forbidden: User "${u.name}" cannot ${verb} resource "${resource}" in API group "${d.group}" ${where}`,
      { ...(name !== undefined ? { name } : {}), group: d.group, kind: d.plural });
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, body: string, rec: RequestRecord): Promise<void> {
    const p = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (p === '/healthz' || p === '/livez' || p === '/readyz') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); return; }
    if (p === '/version') { sendJson(res, 200, { major: '1', minor: '30', gitVersion: 'v1.30.0-double', platform: 'linux/amd64' }); return; }
    const user = this.authenticate(req);
    rec.user = user.name;
    if (p.startsWith('/__double/')) return this.control(p, user, res);
    if (method === 'GET' && p === '/api') { sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }] }); return; }
    if (method === 'GET' && p === '/apis') { sendJson(res, 200, apiGroupList(this.defs)); return; }
    if (method === 'GET' && p === '/openapi/v3') { sendJson(res, 200, openapiRoot(this.defs, String(this.rv))); return; }
    if (method === 'GET' && p.startsWith('/openapi/v3/')) {
      const gv = p.slice('/openapi/v3/'.length).replace(/^apis\//, '').replace(/^api\//, '');
      const defs = this.defs.filter((d) => groupVersion(d) === gv);
      if (!defs.length) throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
      sendJson(res, 200, openapiGroupVersion(gv, defs));
      return;
    }
    const parts = p.split('/').filter(Boolean);
    let group = '';
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts.length >= 2) { version = parts[1]!; rest = parts.slice(2); }
    else if (parts[0] === 'apis' && parts.length >= 3) { group = parts[1]!; version = parts[2]!; rest = parts.slice(3); }
    else throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
    const gvDefs = this.defs.filter((d) => d.group === group && d.version === version);
    if (rest.length === 0 && method === 'GET') {
      if (!gvDefs.length) throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
      sendJson(res, 200, apiResourceList(group ? `${group}/${version}` : version, gvDefs));
      return;
    }
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && !(group === '' && rest.length === 3 && rest[2] === 'status')) {
      namespace = rest[1]!;
      rest = rest.slice(2);
    }
    const [plural, name, sub, ...extra] = rest;
    const d = plural ? this.defOf(group, plural, version) : undefined;
    if (!d || extra.length || (sub !== undefined && !(sub === 'status' && d.statusSubresource))) {
      throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
    }
    if (!d.namespaced && namespace !== undefined) throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
    const q = url.searchParams;
    const watching = q.get('watch') === 'true' || q.get('watch') === '1';
    const verb = method === 'GET' ? (name ? 'get' : watching ? 'watch' : 'list')
      : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch'
        : method === 'DELETE' ? (name ? 'delete' : 'deletecollection') : '';
    rec.verb = verb;
    rec.resource = sub ? `${d.plural}/${sub}` : d.plural;
    if (!verb || (verb === 'create' && name) || ((verb === 'update' || verb === 'patch') && !name)) {
      throw new HttpError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
    this.authorize(user, verb, d, sub, namespace, name);
    if (d.namespaced && namespace !== undefined && verb === 'create' && !this.objects.has(this.key(this.defOf('', 'namespaces')!, undefined, namespace))) {
      throw new HttpError(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
    }
    const table = /as=Table/.test(String(req.headers.accept ?? ''));
    const warn = (w: string) => res.setHeader('warning', w);
    switch (verb) {
      case 'get': {
        const s = this.objects.get(this.key(d, namespace, name!));
        if (!s) throw notFound(d, name!);
        sendJson(res, 200, table ? this.table(d, [s.obj]) : s.obj);
        return;
      }
      case 'list': {
        const labels = parseLabelSelector(q.get('labelSelector'));
        const fields = parseFieldSelector(q.get('fieldSelector'), this.fieldLabels(d));
        const items = this.list(d, namespace).filter((o) => {
          const meta = o.metadata as Obj;
          return matchesLabels(labels, meta.labels as Record<string, string> | undefined)
            && matchesFields(fields, { 'metadata.name': meta.name as string, 'metadata.namespace': (meta.namespace as string) ?? '' });
        });
        if (table) { sendJson(res, 200, this.table(d, items)); return; }
        sendJson(res, 200, { apiVersion: groupVersion(d), kind: d.listKind, metadata: { resourceVersion: String(this.rv) }, items });
        return;
      }
      case 'watch':
        this.startWatch(d, namespace, q, res);
        return;
      case 'create': sendJson(res, 201, this.create(d, namespace, parseJson(body), q, warn)); return;
      case 'update': sendJson(res, 200, this.update(d, namespace, name!, sub, parseJson(body), q, warn)); return;
      case 'patch': sendJson(res, 200, this.patch(d, namespace, name!, sub, String(req.headers['content-type'] ?? ''), body, q, warn)); return;
      case 'delete': {
        const opts = body ? parseJson(body) : {};
        const pre = isObj(opts.preconditions) ? opts.preconditions : undefined;
        const cur = this.objects.get(this.key(d, namespace, name!));
        if (!cur) throw notFound(d, name!);
        if (pre?.resourceVersion !== undefined && pre.resourceVersion !== (cur.obj.metadata as Obj).resourceVersion) {
          throw this.conflict(d, name!);
        }
        const gone = this.remove(d, namespace, name!)!;
        sendJson(res, 200, gone);
        return;
      }
      default:
        throw new HttpError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    }
  }

  private control(p: string, user: UserDef, res: ServerResponse): void {
    if (user.rules !== 'all') throw new HttpError(403, 'Forbidden', 'test controls need the admin token');
    if (p === '/__double/drop-watches') { sendJson(res, 200, { dropped: this.dropWatches() }); return; }
    if (p === '/__double/expire-history') { this.expireHistory(); sendJson(res, 200, { compactedRv: this.compactedRv }); return; }
    if (p === '/__double/requests') { sendJson(res, 200, this.requests); return; }
    throw new HttpError(404, 'NotFound', 'unknown control');
  }

  private conflict(d: ResourceDef, name: string): HttpError {
    return new HttpError(409, 'Conflict',
      `Operation cannot be fulfilled on ${qualified(d)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, group: d.group, kind: d.plural });
  }

  private table(d: ResourceDef, items: Obj[]): unknown {
    const cols = d.printerColumns ?? [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: '' }];
    const cell = (o: Obj, c: { type: string; jsonPath: string }) => {
      const v = jsonPathValue(o, c.jsonPath);
      if (v === undefined || v === null) return null;
      if (c.type === 'date' && typeof v === 'string') return humanDuration(Date.now() - Date.parse(v));
      return typeof v === 'object' ? JSON.stringify(v) : v;
    };
    return {
      kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: String(this.rv) },
      columnDefinitions: [
        { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
        ...cols.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0 })),
      ],
      rows: items.map((o) => ({
        cells: [(o.metadata as Obj).name, ...cols.map((c) => cell(o, c))],
        object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
      })),
    };
  }

  /** Checks the body's identity and runs schema validation and pruning; returns the object to store. */
  private admit(d: ResourceDef, namespace: string | undefined, obj: Obj, q: URLSearchParams, warn: (w: string) => void, urlName?: string): Obj {
    const gv = groupVersion(d);
    if (obj.apiVersion !== undefined && obj.apiVersion !== gv) {
      throw new HttpError(400, 'BadRequest', `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${gv})`);
    }
    if (obj.kind !== undefined && obj.kind !== d.kind) {
      throw new HttpError(400, 'BadRequest', `the kind in the data (${String(obj.kind)}) does not match the expected kind (${d.kind})`);
    }
    const meta: Obj = isObj(obj.metadata) ? { ...obj.metadata } : {};
    const name = meta.name;
    if (urlName !== undefined && name !== undefined && name !== urlName) {
      throw new HttpError(400, 'BadRequest', `the name of the object (${String(name)}) does not match the name on the URL (${urlName})`);
    }
    if (typeof name !== 'string' || name === '') throw invalid(d, String(name ?? ''), [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    const nameOk = d.plural === 'namespaces' ? DNS_LABEL.test(name) && name.length <= 63 : DNS_SUBDOMAIN.test(name) && name.length <= 253;
    if (!nameOk) {
      throw invalid(d, name, [{ reason: 'FieldValueInvalid', field: 'metadata.name',
        message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 ${d.plural === 'namespaces' ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` }]);
    }
    if (d.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== namespace) {
        throw new HttpError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace;
    } else delete meta.namespace;
    let out: Obj = { ...obj, apiVersion: gv, kind: d.kind, metadata: meta };
    if (d.schema) {
      const { apiVersion, kind, metadata, ...rest } = out;
      const top = { ...d.schema, properties: Object.fromEntries(Object.entries(d.schema.properties ?? {}).filter(([k]) => !['apiVersion', 'kind', 'metadata'].includes(k))) };
      const r = validate(top, rest, '');
      const mode = q.get('fieldValidation') ?? 'Warn';
      if (r.unknown.length && mode === 'Strict') {
        throw new HttpError(400, 'BadRequest', `${d.kind} in version "${d.version}" cannot be handled as a ${d.kind}: strict decoding error: ${r.unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
      }
      if (r.unknown.length && mode === 'Warn') warn(r.unknown.map((u) => `299 - "unknown field \\"${u}\\""`).join(', '));
      if (r.causes.length) throw invalid(d, name, r.causes);
      out = { apiVersion, kind, metadata, ...(r.value as Obj) };
    }
    return out;
  }

  private create(d: ResourceDef, namespace: string | undefined, body: Obj, q: URLSearchParams, warn: (w: string) => void): Obj {
    const obj = this.admit(d, namespace, body, q, warn);
    const meta = obj.metadata as Obj;
    if (this.objects.has(this.key(d, namespace, meta.name as string))) {
      throw new HttpError(409, 'AlreadyExists', `${qualified(d)} "${String(meta.name)}" already exists`, { name: meta.name, group: d.group, kind: d.plural });
    }
    delete meta.resourceVersion;
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    meta.generation = 1;
    if (d.statusSubresource && d.custom) delete obj.status;
    if (d.plural === 'customresourcedefinitions') this.crdAccepted(obj);
    if (d.plural === 'namespaces' && !d.group) obj.status = { phase: 'Active' };
    return this.put(d, obj, 'ADDED');
  }

  /** Creates an object as an admin would, without HTTP (test set-up: CRDs, namespaces, fixtures). */
  seed(obj: Obj): Obj {
    const [group, version] = String(obj.apiVersion).includes('/') ? String(obj.apiVersion).split('/') : ['', String(obj.apiVersion)];
    const d = this.defs.find((x) => x.group === group && x.version === version && x.kind === obj.kind);
    if (!d) throw new Error(`the double serves no ${String(obj.apiVersion)} ${String(obj.kind)}`);
    const ns = d.namespaced ? String((obj.metadata as Obj | undefined)?.namespace ?? 'default') : undefined;
    if (ns !== undefined && !this.objects.has(this.key(this.defOf('', 'namespaces')!, undefined, ns))) throw new Error(`namespace ${ns} does not exist`);
    return this.create(d, ns, clone(obj), new URLSearchParams({ fieldValidation: 'Strict' }), () => undefined);
  }

  private crdAccepted(crd: Obj): void {
    let defs: ResourceDef[];
    try {
      defs = this.registerCrd(crd);
    } catch (e) {
      if (e instanceof CrdError) {
        const name = String((crd.metadata as Obj).name);
        throw invalid(this.defOf('apiextensions.k8s.io', 'customresourcedefinitions')!, name, [{ reason: 'FieldValueInvalid', field: e.field, message: e.message }]);
      }
      throw e;
    }
    const names = (crd.spec as Obj).names as Obj;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    crd.status = {
      acceptedNames: names,
      conditions: [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: now },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: now },
      ],
      storedVersions: defs.map((x) => x.version).slice(0, 1),
    };
  }

  /** Writes `next` over `cur` with the subresource rules; `sub` is 'status' for /status writes. */
  private replace(d: ResourceDef, cur: Obj, next: Obj, sub: string | undefined): Obj {
    const curMeta = cur.metadata as Obj;
    const meta = { ...(next.metadata as Obj) };
    for (const k of ['uid', 'creationTimestamp', 'namespace', 'name']) meta[k] = curMeta[k];
    let out: Obj;
    if (sub === 'status') {
      // A /status write takes the status and nothing else.
      out = { ...cur, status: next.status, metadata: { ...curMeta } };
      if (out.status === undefined) delete out.status;
    } else if (d.statusSubresource) {
      // A main-resource write with a status subresource ignores status.
      out = { ...next, metadata: meta };
      if (cur.status !== undefined) out.status = cur.status; else delete out.status;
    } else out = { ...next, metadata: meta };
    const specChanged = JSON.stringify({ ...cur, metadata: undefined, status: d.statusSubresource ? undefined : cur.status })
      !== JSON.stringify({ ...out, metadata: undefined, status: d.statusSubresource ? undefined : out.status });
    (out.metadata as Obj).generation = ((curMeta.generation as number) ?? 1) + (specChanged && sub !== 'status' ? 1 : 0);
    if (d.plural === 'customresourcedefinitions' && sub !== 'status') this.crdAccepted(out);
    return this.put(d, out, 'MODIFIED', clone(cur));
  }

  private update(d: ResourceDef, namespace: string | undefined, name: string, sub: string | undefined, body: Obj, q: URLSearchParams, warn: (w: string) => void): Obj {
    const cur = this.objects.get(this.key(d, namespace, name));
    if (!cur) throw notFound(d, name);
    const next = this.admit(d, namespace, body, q, warn, name);
    const rv = (next.metadata as Obj).resourceVersion;
    if (rv === undefined || rv === '') {
      // Custom resources refuse unconditional updates (their strategy does not allow them).
      if (d.custom) {
        throw invalid(d, name, [{ reason: 'FieldValueInvalid', field: 'metadata.resourceVersion', message: 'Invalid value: 0x0: must be specified for an update' }]);
      }
    } else if (rv !== (cur.obj.metadata as Obj).resourceVersion) throw this.conflict(d, name);
    return this.replace(d, cur.obj, next, sub);
  }

  private patch(d: ResourceDef, namespace: string | undefined, name: string, sub: string | undefined, contentType: string, body: string, q: URLSearchParams, warn: (w: string) => void): Obj {
    const cur = this.objects.get(this.key(d, namespace, name));
    const type = contentType.split(';')[0]!.trim();
    const accepted = d.custom ? ['application/json-patch+json', 'application/merge-patch+json']
      : ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];
    if (!accepted.includes(type)) {
      throw new HttpError(415, 'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`);
    }
    if (!cur) throw notFound(d, name);
    let next: Obj;
    const patchDoc = parseJson(body, true);
    if (type === 'application/json-patch+json') {
      if (!Array.isArray(patchDoc)) throw new HttpError(400, 'BadRequest', 'the server rejected our request due to an error in our request');
      next = applyJsonPatch(clone(cur.obj), patchDoc as Obj[]);
    } else {
      if (!isObj(patchDoc)) throw new HttpError(400, 'BadRequest', 'the server rejected our request due to an error in our request');
      const pm = patchDoc.metadata;
      if (isObj(pm) && pm.resourceVersion !== undefined && pm.resourceVersion !== (cur.obj.metadata as Obj).resourceVersion) {
        throw this.conflict(d, name);
      }
      next = mergePatch(clone(cur.obj), patchDoc) as Obj;
    }
    (next.metadata as Obj).resourceVersion = (cur.obj.metadata as Obj).resourceVersion;
    const admitted = this.admit(d, namespace, next, q, warn, name);
    return this.replace(d, cur.obj, admitted, sub);
  }
}

function applyJsonPatch(doc: Obj, ops: Obj[]): Obj {
  const bad = (m: string) => new HttpError(422, 'Invalid', m);
  for (const op of ops) {
    const path = String(op.path ?? '');
    const parts = path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop();
    if (last === undefined) throw bad(`invalid JSON patch path ${JSON.stringify(path)}`);
    let parent: unknown = doc;
    for (const p of parts) {
      parent = Array.isArray(parent) ? parent[Number(p)] : isObj(parent) ? parent[p] : undefined;
      if (parent === undefined) throw bad(`jsonpatch ${String(op.op)} operation does not apply: doc is missing path: ${path}`);
    }
    const setIn = (v: unknown) => {
      if (Array.isArray(parent)) {
        if (last === '-') parent.push(v); else parent.splice(Number(last), op.op === 'add' ? 0 : 1, v);
      } else (parent as Obj)[last] = v;
    };
    const has = Array.isArray(parent) ? Number(last) < parent.length : isObj(parent) && last in parent;
    switch (op.op) {
      case 'add': setIn(clone(op.value)); break;
      case 'replace': if (!has) throw bad(`jsonpatch replace operation does not apply: doc is missing key: ${path}`); setIn(clone(op.value)); break;
      case 'remove':
        if (!has) throw bad(`jsonpatch remove operation does not apply: doc is missing key: ${path}`);
        if (Array.isArray(parent)) parent.splice(Number(last), 1); else delete (parent as Obj)[last];
        break;
      case 'test': {
        const v = Array.isArray(parent) ? parent[Number(last)] : (parent as Obj)[last];
        if (JSON.stringify(v) !== JSON.stringify(op.value)) throw bad(`testing value ${path} failed`);
        break;
      }
      default: throw bad(`unsupported JSON patch op ${String(op.op)}`);
    }
  }
  return doc;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let b = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { b += c; });
    req.on('end', () => resolve(b));
    req.on('error', reject);
  });
}

function parseJson(body: string, any = false): Obj {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (e) {
    throw new HttpError(400, 'BadRequest', `couldn't get version/kind; json parse error: ${(e as Error).message}`);
  }
  if (!any && !isObj(v)) throw new HttpError(400, 'BadRequest', 'the body is not a JSON object');
  return v as Obj;
}

function sendJson(res: ServerResponse, code: number, v: unknown): void {
  const text = JSON.stringify(v);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
