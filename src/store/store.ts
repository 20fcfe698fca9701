// One store interface with Kubernetes-like semantics, so the plugin, the daemon and the lab are
// written once against it and run on the embedded store, etcd or the Kubernetes API alike.
import { MeshnetError } from '../errors';

export interface StoredMeta {
  name: string;
  namespace: string;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: StoredMeta;
  spec?: unknown;
  status?: unknown;
}

/**
 * Stable codes callers switch on (a Kubernetes Status reason, plus what a transport can say).
 * `Unavailable`: the store could not be reached or answered with a server error (the message
 * names the server); `Forbidden`/`Unauthorized`: the credentials lack a permission (the message
 * names the verb and resource) or were refused.
 */
export type StoreErrorCode =
  | 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Invalid' | 'Gone'
  | 'Forbidden' | 'Unauthorized' | 'Unavailable';

/** Expected failures carry a stable code callers switch on (a Kubernetes Status reason). */
export class StoreError extends MeshnetError {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  type: WatchEventType;
  object: StoredObject;
}

export interface WatchOptions {
  /**
   * Told about every disruption the watch recovers from (a dropped connection, an expired
   * resourceVersion, an unreachable store); the watch keeps retrying with backoff regardless.
   */
  onError?(e: Error): void;
}

export interface StoreWatch {
  /** Resolves once the objects that existed at the start have been delivered as ADDED. */
  readonly synced: Promise<void>;
  stop(): void;
}

export interface Store {
  /** undefined when the object does not exist. */
  get(resource: string, namespace: string, name: string): Promise<StoredObject | undefined>;
  /**
   * All objects of a resource, in one namespace or (namespace undefined) in all; with `name`, only
   * those of that name (a field selector metadata.name=<name> on the API server: how a daemon
   * finds its own GWireKObj records in every namespace).
   */
  list(resource: string, namespace?: string, name?: string): Promise<StoredObject[]>;
  /**
   * Fails with AlreadyExists. Sets resourceVersion, uid and creationTimestamp. A resource with a
   * status subresource drops the status on create (as the API server does); one without keeps it.
   */
  create(resource: string, obj: StoredObject): Promise<StoredObject>;
  /**
   * Replaces the object. With a status subresource (Topology) status is kept as stored; without
   * one (GWireKObj) status is part of the object and replaced too. Conflict when
   * obj.metadata.resourceVersion is set and stale.
   */
  update(resource: string, obj: StoredObject): Promise<StoredObject>;
  /**
   * Replaces status only, through the status subresource; Invalid for a resource without one.
   * Conflict when obj.metadata.resourceVersion is set and stale.
   */
  updateStatus(resource: string, obj: StoredObject): Promise<StoredObject>;
  /**
   * JSON merge patch (RFC 7386) of the status: keys set to null are removed, objects merge,
   * everything else replaces. NotFound when the object is gone; Conflict when `resourceVersion`
   * is given and stale (a precondition, as a patch carrying metadata.resourceVersion is).
   */
  patchStatus(resource: string, namespace: string, name: string, patch: Record<string, unknown>, resourceVersion?: string): Promise<StoredObject>;
  /** false when it did not exist. */
  delete(resource: string, namespace: string, name: string): Promise<boolean>;
  /**
   * Every object of a resource (in one namespace or all) as ADDED, then every change, in order
   * per object. Survives disruptions: it resumes where it was, or (when the store no longer has
   * that history) lists again and delivers the difference, DELETED included, so a consumer's view
   * always converges on the store's.
   */
  watch(resource: string, namespace: string | undefined, onEvent: (e: WatchEvent) => void, opts?: WatchOptions): StoreWatch;
}

/** Retries a read-modify-write on Conflict, as controllers do against the API server. */
export async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof StoreError) || e.code !== 'Conflict' || i >= attempts) throw e;
    }
  }
}
