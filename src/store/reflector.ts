// The watch every backend shares: list, then stream changes from the list's version; on a dropped
// stream resume from the last version seen (with backoff while the store is unreachable); when
// the store no longer has that history (Kubernetes 410 Gone, an etcd compaction) list again and
// deliver the difference, DELETED included. client-go's reflector does the same; client-node's
// informer instead stops for good after a connection reset (docs/decisions.md).
import { StoreError, type StoredObject, type StoreWatch, type WatchEvent, type WatchOptions } from './store';

export interface ListResult {
  items: StoredObject[];
  /** The store's version at the time of the list: the stream starts after it. */
  resourceVersion: string;
}

export interface WatchSource {
  list(): Promise<ListResult>;
  /**
   * Streams changes after `resourceVersion` until the stream ends (resolve) or fails (reject;
   * StoreError 'Gone' when that version is no longer available). `onProgress()` reports that
   * the stream is open; `onProgress(rv)` a newer version with no change attached (a bookmark).
   * Must stop promptly when `signal` aborts.
   * Resolving 'relist' asks for a fresh list instead of a resumed stream (a source that can
   * only tell that something changed, not what).
   */
  stream(resourceVersion: string, onEvent: (e: WatchEvent) => void, onProgress: (rv?: string) => void, signal: AbortSignal): Promise<void | 'relist'>;
}

export interface ReflectorTiming {
  /** First retry delay after a failure; doubles up to maxBackoffMs. */
  minBackoffMs: number;
  maxBackoffMs: number;
}

const DEFAULT_TIMING: ReflectorTiming = { minBackoffMs: 100, maxBackoffMs: 5000 };

const keyOf = (o: StoredObject) => `${o.metadata.namespace}/${o.metadata.name}`;

export function reflect(source: WatchSource, onEvent: (e: WatchEvent) => void, opts: WatchOptions = {}, timing = DEFAULT_TIMING): StoreWatch {
  const abort = new AbortController();
  const known = new Map<string, StoredObject>();
  let markSynced!: () => void;
  const synced = new Promise<void>((r) => { markSynced = r; });

  /** The consumer's handler; its exceptions are reported, never allowed to break the watch. */
  const emit = (e: WatchEvent) => {
    try {
      onEvent(e);
    } catch (err) {
      opts.onError?.(err instanceof Error ? err : new Error(String(err)));
    }
  };

  const deliver = (e: WatchEvent) => {
    const k = keyOf(e.object);
    const prev = known.get(k);
    if (e.type === 'DELETED') {
      if (!prev) return;
      known.delete(k);
      emit(e);
      return;
    }
    // A replayed event (the same version again after a resume) changes nothing.
    if (prev && prev.metadata.resourceVersion === e.object.metadata.resourceVersion) return;
    known.set(k, e.object);
    emit({ type: prev ? 'MODIFIED' : 'ADDED', object: e.object });
  };

  /** Makes `known` equal to a fresh list, delivering the difference. */
  const relist = async (): Promise<string> => {
    const { items, resourceVersion } = await source.list();
    if (abort.signal.aborted) return resourceVersion;
    const seen = new Set<string>();
    for (const o of items) {
      seen.add(keyOf(o));
      deliver({ type: 'ADDED', object: o });
    }
    for (const [k, o] of [...known]) if (!seen.has(k)) deliver({ type: 'DELETED', object: o });
    return resourceVersion;
  };

  const sleep = (ms: number) => abortableSleep(ms, abort.signal);

  const run = async () => {
    let rv: string | undefined;
    // Consecutive attempts that did not get a stream open: they, not broken streams, grow the wait.
    let failures = 0;
    while (!abort.signal.aborted) {
      let opened = false;
      const started = Date.now();
      try {
        if (rv === undefined) {
          rv = await relist();
          markSynced();
        }
        const end = await source.stream(rv, (e) => {
          opened = true;
          if (e.object.metadata.resourceVersion) rv = e.object.metadata.resourceVersion;
          deliver(e);
        }, (v) => {
          opened = true;
          if (v) rv = v;
        }, abort.signal);
        if (end === 'relist') {
          rv = undefined;
          failures = 0;
          continue;
        }
        // A clean end (the server's timeout): go on at once, unless it ended at once, empty.
        if (opened || Date.now() - started >= 1000) failures = 0;
        else await sleep(backoff(++failures));
      } catch (e) {
        if (abort.signal.aborted) break;
        opts.onError?.(e instanceof Error ? e : new Error(String(e)));
        if (e instanceof StoreError && e.code === 'Gone') {
          // History expired: list again at once (not an outage).
          rv = undefined;
          continue;
        }
        if (opened) failures = 0;
        await sleep(backoff(++failures));
      }
    }
  };
  const backoff = (n: number) => Math.min(timing.minBackoffMs * 2 ** (n - 1), timing.maxBackoffMs);
  void run();
  return { synced, stop: () => abort.abort() };
}

/** Resolves after `ms`, or at once when `signal` aborts (the listener is removed either way). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) { resolve(); return; }
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
