// One store interface with Kubernetes-like semantics, so the plugin, the daemon and the lab are
// written once against it and run on the embedded store, etcd or the Kubernetes API alike.

export interface StoredMeta {
  name: string;
  namespace: string;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
}

export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: StoredMeta;
  spec?: unknown;
  status?: unknown;
}

export type StoreErrorReason = 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Invalid';

/** Expected failures carry a stable reason callers switch on (like a Kubernetes Status reason). */
export class StoreError extends Error {
  readonly reason: StoreErrorReason;
  constructor(reason: StoreErrorReason, message: string) {
    super(message);
    this.name = 'StoreError';
    this.reason = reason;
  }
}

export interface Store {
  /** undefined when the object does not exist. */
  get(resource: string, namespace: string, name: string): Promise<StoredObject | undefined>;
  /** All objects of a resource, in one namespace or (namespace undefined) in all. */
  list(resource: string, namespace?: string): Promise<StoredObject[]>;
  /** Fails with AlreadyExists. Sets resourceVersion, uid and creationTimestamp. */
  create(resource: string, obj: StoredObject): Promise<StoredObject>;
  /** Replaces spec (and metadata labels); keeps status. Conflict when obj.metadata.resourceVersion is set and stale. */
  update(resource: string, obj: StoredObject): Promise<StoredObject>;
  /** Replaces status only. Conflict when obj.metadata.resourceVersion is set and stale. */
  updateStatus(resource: string, obj: StoredObject): Promise<StoredObject>;
  /** false when it did not exist. */
  delete(resource: string, namespace: string, name: string): Promise<boolean>;
}

/** Retries a read-modify-write on Conflict, as controllers do against the API server. */
export async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof StoreError) || e.reason !== 'Conflict' || i >= attempts) throw e;
    }
  }
}
