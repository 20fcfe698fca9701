// Wire ends recorded in GWireKObj objects, exactly as upstream's CRD keys them: one object per
// (node, topology namespace), metadata.name = node name, items in status.grpcWireItems. A
// restarted daemon lists the objects named after its node: none means a first start, some mean
// a restart whose wires are to be reattached. GWireKObj has no status subresource, so the
// status is written with a full update of the object, and ids are JSON integers (int64 in the
// CRD: a string there is refused by the API server with 422).
import { StoreError, retryOnConflict, type Store, type StoredObject } from '../store';

export const GWIRE_RESOURCE = 'gwirekobjs';

/** One wire end on this node (upstream's JSON keys). */
export interface GWireItem {
  node_name: string;
  link_id: number;
  topo_namespace: string;
  local_pod_net_ns: string;
  local_pod_name: string;
  local_pod_ip: string;
  local_pod_iface_name: string;
  wire_iface_name_on_local_node: string;
  /** The id the PEER daemon uses for this wire: what our frames to it carry. */
  wire_iface_id_on_peer_node: number;
  gwire_peer_node_ip: string;
}

interface GWireKObj extends StoredObject {
  spec?: { uids?: number[] };
  status?: { grpcWireItems?: unknown[] };
}

const STRING_KEYS = ['node_name', 'topo_namespace', 'local_pod_net_ns', 'local_pod_name', 'local_pod_ip', 'local_pod_iface_name',
  'wire_iface_name_on_local_node', 'gwire_peer_node_ip'] as const;

/** One stored item, checked: a record another writer mangled is reported with its field, not used. */
export function parseGWireItem(v: unknown, where: string): GWireItem {
  if (typeof v !== 'object' || v === null) throw new StoreError('Invalid', `${where}: not an object`);
  const o = v as Record<string, unknown>;
  for (const k of STRING_KEYS) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new StoreError('Invalid', `${where}.${k}: must be a string, got ${JSON.stringify(o[k])}`);
  }
  for (const k of ['link_id', 'wire_iface_id_on_peer_node'] as const) {
    if (!Number.isSafeInteger(o[k]) || (o[k] as number) < 0) throw new StoreError('Invalid', `${where}.${k}: must be a non-negative integer, got ${JSON.stringify(o[k])}`);
  }
  const str = (k: typeof STRING_KEYS[number]) => (o[k] as string | undefined) ?? '';
  return {
    node_name: str('node_name'), link_id: o.link_id as number, topo_namespace: str('topo_namespace'),
    local_pod_net_ns: str('local_pod_net_ns'), local_pod_name: str('local_pod_name'), local_pod_ip: str('local_pod_ip'),
    local_pod_iface_name: str('local_pod_iface_name'), wire_iface_name_on_local_node: str('wire_iface_name_on_local_node'),
    wire_iface_id_on_peer_node: o.wire_iface_id_on_peer_node as number, gwire_peer_node_ip: str('gwire_peer_node_ip'),
  };
}

const sameEnd = (a: Pick<GWireItem, 'topo_namespace' | 'local_pod_name' | 'local_pod_iface_name'>, b: Pick<GWireItem, 'topo_namespace' | 'local_pod_name' | 'local_pod_iface_name'>) =>
  a.topo_namespace === b.topo_namespace && a.local_pod_name === b.local_pod_name && a.local_pod_iface_name === b.local_pod_iface_name;

function itemsOf(o: GWireKObj): GWireItem[] {
  return (o.status?.grpcWireItems ?? []).map((v, i) => parseGWireItem(v, `GWireKObj ${o.metadata.namespace}/${o.metadata.name} status.grpcWireItems[${i}]`));
}

export class WireRecords {
  /** Writes to one namespace's object, one after another (see serial). */
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(private readonly store: Store, private readonly nodeName: string) {}

  /**
   * This daemon's writes to one GWireKObj run one at a time: a pod's DEL takes down its wires
   * concurrently, and read-modify-write updates of the same object racing each other would only
   * conflict and retry (409s beyond the retry budget lost records). Other writers (another
   * node's daemon never writes this node's object) are still handled by retryOnConflict.
   */
  private serial<T>(namespace: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(namespace) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.chains.set(namespace, tail);
    void tail.then(() => { if (this.chains.get(namespace) === tail) this.chains.delete(namespace); });
    return run;
  }

  /** Adds or replaces the item for the same pod interface. */
  async upsert(item: GWireItem): Promise<void> {
    await this.serial(item.topo_namespace, () => this.upsertNow(item));
  }

  private async upsertNow(item: GWireItem): Promise<void> {
    await retryOnConflict(async () => {
      const cur = await this.store.get(GWIRE_RESOURCE, item.topo_namespace, this.nodeName) as GWireKObj | undefined;
      if (!cur) {
        try {
          await this.store.create(GWIRE_RESOURCE, {
            apiVersion: 'networkop.co.uk/v1beta1', kind: 'GWireKObj',
            metadata: { name: this.nodeName, namespace: item.topo_namespace }, spec: {}, status: { grpcWireItems: [item] },
          });
        } catch (e) {
          // Another writer created it meanwhile: read again and merge.
          if (e instanceof StoreError && e.code === 'AlreadyExists') throw new StoreError('Conflict', e.message);
          throw e;
        }
        return;
      }
      const items = itemsOf(cur).filter((i) => !sameEnd(i, item));
      await this.store.update(GWIRE_RESOURCE, { ...cur, status: { ...cur.status, grpcWireItems: [...items, item] } });
    });
  }

  /** Removes the item of one pod interface; false when there was none. */
  async remove(end: Pick<GWireItem, 'topo_namespace' | 'local_pod_name' | 'local_pod_iface_name'>): Promise<boolean> {
    return this.serial(end.topo_namespace, () => retryOnConflict(async () => {
      const cur = await this.store.get(GWIRE_RESOURCE, end.topo_namespace, this.nodeName) as GWireKObj | undefined;
      if (!cur) return false;
      const items = itemsOf(cur);
      const kept = items.filter((i) => !sameEnd(i, end));
      if (kept.length === items.length) return false;
      await this.store.update(GWIRE_RESOURCE, { ...cur, status: { ...cur.status, grpcWireItems: kept } });
      return true;
    }));
  }

  /** Every item recorded for this node, across namespaces (as upstream: field selector metadata.name=<node>). */
  async list(): Promise<GWireItem[]> {
    const mine = await this.store.list(GWIRE_RESOURCE, undefined, this.nodeName) as GWireKObj[];
    return mine.flatMap(itemsOf);
  }
}
