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

type RecordOp = { kind: 'upsert'; item: GWireItem } | { kind: 'remove'; end: Pick<GWireItem, 'topo_namespace' | 'local_pod_name' | 'local_pod_iface_name'> };

export class WireRecords {
  /** Writes waiting for their namespace's object, applied together by one read-modify-write. */
  private readonly pending = new Map<string, Array<{ op: RecordOp; done: (changed: boolean) => void; fail: (e: unknown) => void }>>();
  private readonly writing = new Set<string>();

  constructor(private readonly store: Store, private readonly nodeName: string) {}

  /**
   * This daemon's writes to one GWireKObj are applied by one writer at a time, and every write
   * that arrives while one is in flight joins the next: a pod with 1,500 wires makes a handful
   * of read-modify-writes of its object, not 1,500 (each of which rewrote the whole object), and
   * racing writes of the same object never conflict with each other (409s beyond the retry
   * budget lost records). Other writers are still handled by retryOnConflict.
   */
  private enqueue(namespace: string, op: RecordOp): Promise<boolean> {
    return new Promise((done, fail) => {
      const q = this.pending.get(namespace) ?? [];
      q.push({ op, done, fail });
      this.pending.set(namespace, q);
      if (!this.writing.has(namespace)) void this.drain(namespace);
    });
  }

  private async drain(namespace: string): Promise<void> {
    this.writing.add(namespace);
    try {
      for (let batch = this.pending.get(namespace); batch && batch.length > 0; batch = this.pending.get(namespace)) {
        this.pending.set(namespace, []);
        try {
          const changed = await retryOnConflict(() => this.apply(namespace, batch!.map((b) => b.op)));
          batch.forEach((b, i) => b.done(changed[i]!));
        } catch (e) {
          for (const b of batch) b.fail(e);
        }
      }
    } finally {
      this.pending.delete(namespace);
      this.writing.delete(namespace);
    }
  }

  /** One read-modify-write applying `ops` in order; for each, whether it changed anything. */
  private async apply(namespace: string, ops: RecordOp[]): Promise<boolean[]> {
    const cur = await this.store.get(GWIRE_RESOURCE, namespace, this.nodeName) as GWireKObj | undefined;
    let items = cur ? itemsOf(cur) : [];
    const changed = ops.map((op) => {
      if (op.kind === 'upsert') {
        items = [...items.filter((i) => !sameEnd(i, op.item)), op.item];
        return true;
      }
      const before = items.length;
      items = items.filter((i) => !sameEnd(i, op.end));
      return items.length < before;
    });
    if (!changed.some(Boolean)) return changed;
    if (!cur) {
      try {
        await this.store.create(GWIRE_RESOURCE, {
          apiVersion: 'networkop.co.uk/v1beta1', kind: 'GWireKObj',
          metadata: { name: this.nodeName, namespace }, spec: {}, status: { grpcWireItems: items },
        });
      } catch (e) {
        // Another writer created it meanwhile: read again and merge.
        if (e instanceof StoreError && e.code === 'AlreadyExists') throw new StoreError('Conflict', e.message);
        throw e;
      }
      return changed;
    }
    await this.store.update(GWIRE_RESOURCE, { ...cur, status: { ...cur.status, grpcWireItems: items } });
    return changed;
  }

  /** Adds or replaces the item for the same pod interface. */
  async upsert(item: GWireItem): Promise<void> {
    await this.enqueue(item.topo_namespace, { kind: 'upsert', item });
  }

  /** Removes the item of one pod interface; false when there was none. */
  async remove(end: Pick<GWireItem, 'topo_namespace' | 'local_pod_name' | 'local_pod_iface_name'>): Promise<boolean> {
    return this.enqueue(end.topo_namespace, { kind: 'remove', end });
  }

  /** Every item recorded for this node, across namespaces (as upstream: field selector metadata.name=<node>). */
  async list(): Promise<GWireItem[]> {
    const mine = await this.store.list(GWIRE_RESOURCE, undefined, this.nodeName) as GWireKObj[];
    return mine.flatMap(itemsOf);
  }
}
