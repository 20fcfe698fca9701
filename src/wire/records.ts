// Wire ends recorded in GWireKObj objects, exactly as upstream's CRD keys them: one object per
// (node, topology namespace), metadata.name = node name, items in status.grpcWireItems. A
// restarted daemon lists the objects named after its node: none means a first start, some mean
// a restart whose wires are to be reattached.
import { retryOnConflict, type Store, type StoredObject } from '../store';

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
  wire_iface_id_on_peer_node: number | string;
  gwire_peer_node_ip: string;
}

interface GWireKObj extends StoredObject {
  spec?: { uids?: number[] };
  status?: { grpcWireItems?: GWireItem[] };
}

const sameEnd = (a: GWireItem, b: Pick<GWireItem, 'topo_namespace' | 'local_pod_name' | 'local_pod_iface_name'>) =>
  a.topo_namespace === b.topo_namespace && a.local_pod_name === b.local_pod_name && a.local_pod_iface_name === b.local_pod_iface_name;

export class WireRecords {
  constructor(private readonly store: Store, private readonly nodeName: string) {}

  /** Adds or replaces the item for the same pod interface. */
  async upsert(item: GWireItem): Promise<void> {
    await retryOnConflict(async () => {
      const cur = await this.store.get(GWIRE_RESOURCE, item.topo_namespace, this.nodeName) as GWireKObj | undefined;
      if (!cur) {
        const created = await this.store.create(GWIRE_RESOURCE, {
          apiVersion: 'networkop.co.uk/v1beta1', kind: 'GWireKObj',
          metadata: { name: this.nodeName, namespace: item.topo_namespace }, spec: {},
        });
        await this.store.updateStatus(GWIRE_RESOURCE, { ...created, status: { grpcWireItems: [item] } });
        return;
      }
      const items = (cur.status?.grpcWireItems ?? []).filter((i) => !sameEnd(i, item));
      // GWireKObj has no status subresource upstream (written with a full update); the store
      // keeps spec and status apart, so write the status part.
      await this.store.updateStatus(GWIRE_RESOURCE, { ...cur, status: { grpcWireItems: [...items, item] } });
    });
  }

  /** Removes the item of one pod interface; false when there was none. */
  async remove(end: Pick<GWireItem, 'topo_namespace' | 'local_pod_name' | 'local_pod_iface_name'>): Promise<boolean> {
    return retryOnConflict(async () => {
      const cur = await this.store.get(GWIRE_RESOURCE, end.topo_namespace, this.nodeName) as GWireKObj | undefined;
      const items = cur?.status?.grpcWireItems ?? [];
      const kept = items.filter((i) => !sameEnd(i, end));
      if (!cur || kept.length === items.length) return false;
      await this.store.updateStatus(GWIRE_RESOURCE, { ...cur, status: { grpcWireItems: kept } });
      return true;
    });
  }

  /** Every item recorded for this node, across namespaces (upstream: field selector metadata.name=<node>). */
  async list(): Promise<GWireItem[]> {
    const all = await this.store.list(GWIRE_RESOURCE) as GWireKObj[];
    return all.filter((o) => o.metadata.name === this.nodeName).flatMap((o) => o.status?.grpcWireItems ?? []);
  }
}
