// What update, updateStatus and patchStatus mean, once for every backend that stores whole
// objects and changes one under its own compare-and-swap (the file store's lock, etcd's
// transaction): each is a change of the stored object, handed to the backend's `modify`. The
// Kubernetes store is not one: the API server applies these itself.
import { mergePatch } from './merge-patch';
import { requireStatusSubresource, resourceInfo } from './resources';
import type { StoredObject } from './store';

export abstract class ModifyStore {
  /**
   * Applies `change` to the stored object (NotFound when there is none), on condition that it is
   * still at `resourceVersion` when given (Conflict otherwise), and returns what was stored.
   */
  protected abstract modify(resource: string, namespace: string, name: string, resourceVersion: string | undefined,
    change: (cur: StoredObject) => StoredObject): Promise<StoredObject> | StoredObject;

  /** The object as given; its status too only where the resource has no status subresource (as the API server does). */
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
}
