// Typed access to Topology objects in any Store: parses on read (so a malformed stored object
// is reported with its field, not crashed on later) and writes status through the status
// subresource as a JSON merge patch, as the API server wants it.
import { StoreError, retryOnConflict, type Store, type StoredObject } from '../store/store';
import { parseTopology, type BadLink } from './validate';
import type { Link, Topology, TopologyStatus } from './types';

export const TOPOLOGY_RESOURCE = 'topologies';

/** Status fields to set; `undefined` removes a field. */
export type StatusFields = { [K in keyof TopologyStatus]?: TopologyStatus[K] | undefined };

function patchOf(fields: StatusFields): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v === undefined ? null : v]));
}

/** How errors about a stored Topology name it: `Topology <namespace>/<name>`, then the field path. */
export function topologyWhere(namespace: string, name: string): string {
  return `Topology ${namespace}/${name}`;
}

/** Links of stored Topologies left out because they are invalid, by the object read. */
const badLinksOf = new WeakMap<Topology, BadLink[]>();

/**
 * Stored objects are parsed leniently about links: someone else wrote them (KNE, kubectl), and
 * one bad link must not stop the pod's valid links. The bad ones are kept aside (badLinks()).
 */
export function parseStored(o: StoredObject): Topology {
  const bad: BadLink[] = [];
  const t = parseTopology(o, o.metadata.namespace, topologyWhere(o.metadata.namespace, o.metadata.name), bad);
  if (bad.length) badLinksOf.set(t, bad);
  return t;
}

export class TopologyClient {
  constructor(readonly store: Store) {}

  /** Links of `t` (as read by this client) that were left out as invalid; each error names its field. */
  static badLinks(t: Topology): BadLink[] {
    return badLinksOf.get(t) ?? [];
  }

  async get(namespace: string, name: string): Promise<Topology | undefined> {
    const o = await this.store.get(TOPOLOGY_RESOURCE, namespace, name);
    return o === undefined ? undefined : parseStored(o);
  }

  async list(namespace?: string): Promise<Topology[]> {
    return (await this.store.list(TOPOLOGY_RESOURCE, namespace)).map(parseStored);
  }

  async create(t: Topology): Promise<Topology> {
    const o = await this.store.create(TOPOLOGY_RESOURCE, t as unknown as StoredObject);
    return parseStored(o);
  }

  async delete(namespace: string, name: string): Promise<boolean> {
    return this.store.delete(TOPOLOGY_RESOURCE, namespace, name);
  }

  /**
   * Replaces the spec's links with `change(links)`, keeping everything else of the stored object
   * (unknown fields included); re-reads and retries on a conflicting write. Undefined when gone.
   */
  async updateLinks(namespace: string, name: string, change: (links: Link[]) => Link[]): Promise<Topology | undefined> {
    return retryOnConflict(async () => {
      const raw = await this.store.get(TOPOLOGY_RESOURCE, namespace, name);
      if (!raw) return undefined;
      const cur = parseStored(raw);
      return parseStored(await this.store.update(TOPOLOGY_RESOURCE, { ...raw, spec: { ...(raw.spec as object), links: change(cur.spec.links) } }));
    });
  }

  /**
   * Sets status fields with one merge patch (no read first): what ADD and DEL write. Returns the
   * stored object, or undefined when the Topology does not exist.
   */
  async setStatus(namespace: string, name: string, fields: StatusFields): Promise<Topology | undefined> {
    try {
      return parseStored(await this.store.patchStatus(TOPOLOGY_RESOURCE, namespace, name, patchOf(fields)));
    } catch (e) {
      if (e instanceof StoreError && e.code === 'NotFound') return undefined;
      throw e;
    }
  }

  /**
   * Applies `change` to the current status and writes the difference as a merge patch
   * conditioned on the version read, re-reading on conflict (for lists such as `skipped`, which a
   * merge patch replaces whole). Returns undefined when the object is gone.
   */
  async patchStatus(namespace: string, name: string, change: (s: TopologyStatus) => TopologyStatus): Promise<Topology | undefined> {
    return retryOnConflict(async () => {
      const cur = await this.get(namespace, name);
      if (!cur) return undefined;
      const before: TopologyStatus = cur.status ?? {};
      const after = change({ ...before });
      const fields: StatusFields = {};
      for (const k of new Set([...Object.keys(before), ...Object.keys(after)]) as Set<keyof TopologyStatus>) {
        if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) (fields as Record<string, unknown>)[k] = after[k];
      }
      try {
        return parseStored(await this.store.patchStatus(TOPOLOGY_RESOURCE, namespace, name, patchOf(fields), cur.metadata.resourceVersion));
      } catch (e) {
        if (e instanceof StoreError && e.code === 'NotFound') return undefined;
        throw e;
      }
    });
  }
}
