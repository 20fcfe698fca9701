// The original meshnet's etcd layout, as its README taught and its upload scripts wrote it: per
// pod, `/<pod>/links` holds a JSON list of links ({uid, peer_pod, local_intf, local_ip, peer_intf,
// peer_ip}: a Topology's links, the same keys), and the plugin writes the pod's runtime state as
// `/<pod>/src_ip` (the node's IP) and `/<pod>/net_ns`. Here those keys ARE the Topology objects of
// namespace `default` (the layout has no namespaces): reading `/<pod>/links` gives Topology
// <pod>, its status comes from `/<pod>/src_ip`, `/<pod>/net_ns` and our own `/<pod>/container_id`
// and `/<pod>/plumbing_error`. Everything else (GWireKObj wire records) lives in our own layout
// under /meshnet/ of the same etcd. Store reference: etcd-original://host:port (the plugin config's
// etcd_host and etcd_port). The layout has no watch of its own: a watch polls every second.
import { EtcdStore, type EtcdOptions } from './etcd-store';
import { mergePatch } from './merge-patch';
import { StoreError, type Store, type StoredObject, type StoreWatch, type WatchEvent, type WatchOptions } from './store';

const TOPOLOGIES = 'topologies';
const NAMESPACE = 'default';
/** Keys of a pod the layout knows: links (spec) and the status fields. */
const STATUS_KEYS = ['src_ip', 'net_ns', 'container_id', 'plumbing_error'] as const;
const POLL_MS = 1000;

function podKey(name: string, field: string): string {
  if (!name || name.includes('/')) throw new StoreError('Invalid', `pod name ${JSON.stringify(name)} cannot be an etcd key segment`);
  return `/${name}/${field}`;
}

export class LegacyEtcdStore implements Store {
  readonly inner: EtcdStore;

  constructor(endpoints: string[], opts: EtcdOptions = {}) {
    this.inner = new EtcdStore(endpoints, opts);
  }

  close(): void {
    this.inner.close();
  }

  /** The Topology objects the keys describe, by pod name (only pods with a `links` key). */
  private async read(name?: string): Promise<Map<string, StoredObject>> {
    const kvs = await this.inner.rawRange(name === undefined ? '/' : `/${name}/`);
    const pods = new Map<string, { fields: Map<string, string>; rev: bigint }>();
    for (const kv of kvs) {
      const m = /^\/([^/]+)\/([^/]+)$/.exec(kv.key);
      if (!m) continue; // our own /meshnet/<resource>/... keys, and anything else
      const [, pod, field] = m as unknown as [string, string, string];
      const p = pods.get(pod) ?? { fields: new Map(), rev: 0n };
      p.fields.set(field, kv.value);
      if (BigInt(kv.modRevision) > p.rev) p.rev = BigInt(kv.modRevision);
      pods.set(pod, p);
    }
    const out = new Map<string, StoredObject>();
    for (const [pod, { fields, rev }] of pods) {
      const linksJson = fields.get('links');
      if (linksJson === undefined) continue;
      let links: unknown;
      try {
        links = JSON.parse(linksJson);
      } catch (e) {
        // Shown as an invalid Topology by whoever parses it (the field is named there).
        links = `not JSON: ${(e as Error).message}`;
      }
      const status: Record<string, string> = {};
      for (const k of STATUS_KEYS) {
        const v = fields.get(k);
        if (v !== undefined && v !== '') status[k] = v;
      }
      out.set(pod, {
        apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology',
        metadata: { name: pod, namespace: NAMESPACE, resourceVersion: rev.toString() },
        spec: { links }, ...(Object.keys(status).length ? { status } : {}),
      });
    }
    return out;
  }

  async get(resource: string, namespace: string, name: string): Promise<StoredObject | undefined> {
    if (resource !== TOPOLOGIES) return this.inner.get(resource, namespace, name);
    if (namespace !== NAMESPACE || name.includes('/')) return undefined;
    return (await this.read(name)).get(name);
  }

  async list(resource: string, namespace?: string, name?: string): Promise<StoredObject[]> {
    if (resource !== TOPOLOGIES) return this.inner.list(resource, namespace, name);
    if (namespace !== undefined && namespace !== NAMESPACE) return [];
    if (name !== undefined) return [...(await this.read(name)).values()];
    return [...(await this.read()).values()];
  }

  private requireDefault(obj: StoredObject): void {
    if (obj.metadata.namespace !== NAMESPACE) {
      throw new StoreError('Invalid', `the original meshnet's etcd layout has no namespaces: ${obj.metadata.namespace}/${obj.metadata.name} must be in namespace ${NAMESPACE}`);
    }
  }

  private async checkVersion(name: string, resourceVersion: string | undefined): Promise<StoredObject> {
    const cur = await this.get(TOPOLOGIES, NAMESPACE, name);
    if (!cur) throw new StoreError('NotFound', `topologies ${NAMESPACE}/${name} not found (no /${name}/links key)`);
    if (resourceVersion !== undefined && resourceVersion !== cur.metadata.resourceVersion) {
      throw new StoreError('Conflict', `topologies ${NAMESPACE}/${name} was modified (resourceVersion ${cur.metadata.resourceVersion}, update based on ${resourceVersion})`);
    }
    return cur;
  }

  async create(resource: string, obj: StoredObject): Promise<StoredObject> {
    if (resource !== TOPOLOGIES) return this.inner.create(resource, obj);
    this.requireDefault(obj);
    const name = obj.metadata.name;
    if (await this.get(TOPOLOGIES, NAMESPACE, name)) throw new StoreError('AlreadyExists', `topologies ${NAMESPACE}/${name} already exists`);
    await this.inner.rawPut(podKey(name, 'links'), JSON.stringify((obj.spec as { links?: unknown } | undefined)?.links ?? []));
    return (await this.get(TOPOLOGIES, NAMESPACE, name))!;
  }

  async update(resource: string, obj: StoredObject): Promise<StoredObject> {
    if (resource !== TOPOLOGIES) return this.inner.update(resource, obj);
    this.requireDefault(obj);
    await this.checkVersion(obj.metadata.name, obj.metadata.resourceVersion);
    await this.inner.rawPut(podKey(obj.metadata.name, 'links'), JSON.stringify((obj.spec as { links?: unknown } | undefined)?.links ?? []));
    return (await this.get(TOPOLOGIES, NAMESPACE, obj.metadata.name))!;
  }

  private async writeStatus(name: string, status: Record<string, unknown>): Promise<void> {
    for (const k of STATUS_KEYS) {
      const v = status[k];
      if (v === undefined || v === null || v === '') await this.inner.rawDelete(podKey(name, k));
      else await this.inner.rawPut(podKey(name, k), String(v));
    }
  }

  async updateStatus(resource: string, obj: StoredObject): Promise<StoredObject> {
    if (resource !== TOPOLOGIES) return this.inner.updateStatus(resource, obj);
    await this.checkVersion(obj.metadata.name, obj.metadata.resourceVersion);
    await this.writeStatus(obj.metadata.name, (obj.status ?? {}) as Record<string, unknown>);
    return (await this.get(TOPOLOGIES, NAMESPACE, obj.metadata.name))!;
  }

  async patchStatus(resource: string, namespace: string, name: string, patch: Record<string, unknown>, resourceVersion?: string): Promise<StoredObject> {
    if (resource !== TOPOLOGIES) return this.inner.patchStatus(resource, namespace, name, patch, resourceVersion);
    if (namespace !== NAMESPACE) throw new StoreError('NotFound', `topologies ${namespace}/${name} not found (the original layout has only namespace ${NAMESPACE})`);
    const cur = await this.checkVersion(name, resourceVersion);
    await this.writeStatus(name, (mergePatch(cur.status ?? {}, patch) ?? {}) as Record<string, unknown>);
    return (await this.get(TOPOLOGIES, NAMESPACE, name))!;
  }

  async delete(resource: string, namespace: string, name: string): Promise<boolean> {
    if (resource !== TOPOLOGIES) return this.inner.delete(resource, namespace, name);
    if (namespace !== NAMESPACE || !(await this.get(TOPOLOGIES, NAMESPACE, name))) return false;
    await this.inner.rawDelete(`/${name}/`, true);
    return true;
  }

  /** Topologies: polled every second (the layout has no resource to watch); others: etcd's watch. */
  watch(resource: string, namespace: string | undefined, onEvent: (e: WatchEvent) => void, opts?: WatchOptions): StoreWatch {
    if (resource !== TOPOLOGIES) return this.inner.watch(resource, namespace, onEvent, opts);
    let known = new Map<string, StoredObject>();
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const poll = async (): Promise<void> => {
      const now = namespace === undefined || namespace === NAMESPACE ? await this.read() : new Map<string, StoredObject>();
      for (const [name, o] of now) {
        const before = known.get(name);
        if (!before) onEvent({ type: 'ADDED', object: o });
        else if (before.metadata.resourceVersion !== o.metadata.resourceVersion) onEvent({ type: 'MODIFIED', object: o });
      }
      for (const [name, o] of known) if (!now.has(name)) onEvent({ type: 'DELETED', object: o });
      known = now;
    };
    const loop = () => {
      if (stopped) return;
      timer = setTimeout(() => {
        poll().catch((e: Error) => opts?.onError?.(e)).finally(loop);
      }, POLL_MS);
    };
    const synced = (async () => {
      for (;;) {
        try {
          await poll();
          return;
        } catch (e) {
          opts?.onError?.(e as Error);
          await new Promise((r) => setTimeout(r, POLL_MS));
          if (stopped) return;
        }
      }
    })().finally(loop);
    return {
      synced,
      stop: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
      },
    };
  }
}
