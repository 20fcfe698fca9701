// A cache of one resource kept current by Store.watch (client-go's informer): reads come from
// memory, changes are told to a handler after the cache has them. The watch underneath resumes
// and relists by itself (reflector.ts), so the cache always converges on the store.
import type { Store, StoredObject, WatchEvent, WatchEventType } from './store';

export interface InformerChange<T> {
  type: WatchEventType;
  key: string;
  /** The object now (undefined when deleted). */
  object?: T;
  /** The object before (undefined when added). */
  old?: T;
}

export interface InformerOptions<T> {
  namespace?: string;
  /** Typed view of a stored object; undefined leaves it out of the cache (reported via onError). */
  parse(o: StoredObject): T;
  onChange?(c: InformerChange<T>): void;
  onError?(e: Error): void;
}

export const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

export class Informer<T> {
  private readonly items = new Map<string, T>();
  private readonly versions = new Map<string, string>();
  private stopWatch: (() => void) | undefined;
  /** The newest resourceVersion the cache has seen (for "has it seen my write yet?"). */
  private newest = 0n;

  constructor(private readonly store: Store, private readonly resource: string, private readonly opts: InformerOptions<T>) {}

  /** Starts watching; resolves once the objects that exist now are in the cache. */
  async start(): Promise<void> {
    const w = this.store.watch(this.resource, this.opts.namespace, (e) => this.apply(e), { ...(this.opts.onError ? { onError: this.opts.onError } : {}) });
    this.stopWatch = () => w.stop();
    await w.synced;
  }

  private apply(e: WatchEvent): void {
    const key = keyOf(e.object.metadata.namespace, e.object.metadata.name);
    const rv = e.object.metadata.resourceVersion;
    if (rv && /^\d+$/.test(rv) && BigInt(rv) > this.newest) this.newest = BigInt(rv);
    const old = this.items.get(key);
    if (e.type === 'DELETED') {
      this.items.delete(key);
      this.versions.delete(key);
      this.opts.onChange?.({ type: 'DELETED', key, ...(old !== undefined ? { old } : {}) });
      return;
    }
    let object: T;
    try {
      object = this.opts.parse(e.object);
    } catch (err) {
      this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.items.set(key, object);
    if (rv) this.versions.set(key, rv);
    this.opts.onChange?.({ type: e.type, key, object, ...(old !== undefined ? { old } : {}) });
  }

  get(namespace: string, name: string): T | undefined {
    return this.items.get(keyOf(namespace, name));
  }

  /** Every cached object, or those of one namespace. */
  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.items.values()];
    const prefix = `${namespace}/`;
    return [...this.items].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v);
  }

  /**
   * True once the cache holds a version of the object at least as new as `resourceVersion` (the
   * stores here number versions with one increasing counter: etcd's revision, the API server's).
   */
  hasSeen(resourceVersion: string | undefined): boolean {
    if (!resourceVersion || !/^\d+$/.test(resourceVersion)) return true;
    return this.newest >= BigInt(resourceVersion);
  }

  stop(): void {
    this.stopWatch?.();
  }
}
