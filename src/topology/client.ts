// Typed access to Topology objects in any Store: parses on read (so a malformed stored object
// is reported with its field, not crashed on later) and writes status with conflict retries.
import { retryOnConflict, type Store, type StoredObject } from '../store/store';
import { parseTopology } from './validate';
import type { Topology, TopologyStatus } from './types';

export const TOPOLOGY_RESOURCE = 'topologies';

export class TopologyClient {
  constructor(private readonly store: Store) {}

  async get(namespace: string, name: string): Promise<Topology | undefined> {
    const o = await this.store.get(TOPOLOGY_RESOURCE, namespace, name);
    return o === undefined ? undefined : parseTopology(o, namespace, `Topology ${namespace}/${name}`);
  }

  async list(namespace?: string): Promise<Topology[]> {
    const all = await this.store.list(TOPOLOGY_RESOURCE, namespace);
    return all.map((o) => parseTopology(o, o.metadata.namespace, `Topology ${o.metadata.namespace}/${o.metadata.name}`));
  }

  async create(t: Topology): Promise<Topology> {
    const o = await this.store.create(TOPOLOGY_RESOURCE, t as unknown as StoredObject);
    return parseTopology(o);
  }

  async delete(namespace: string, name: string): Promise<boolean> {
    return this.store.delete(TOPOLOGY_RESOURCE, namespace, name);
  }

  /**
   * Applies `change` to the current status and writes it, re-reading on conflict.
   * Returns undefined when the object is gone (nothing to record).
   */
  async patchStatus(namespace: string, name: string, change: (s: TopologyStatus) => TopologyStatus): Promise<Topology | undefined> {
    return retryOnConflict(async () => {
      const cur = await this.get(namespace, name);
      if (!cur) return undefined;
      const status = change({ ...(cur.status ?? {}) });
      for (const k of Object.keys(status) as (keyof TopologyStatus)[]) if (status[k] === undefined) delete status[k];
      const o = await this.store.updateStatus(TOPOLOGY_RESOURCE, { ...cur, status } as unknown as StoredObject);
      return parseTopology(o);
    });
  }
}
