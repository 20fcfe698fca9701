// The controller's queue of keys, as client-go's rate-limited work queue: a key is queued at most
// once however often it is added; a key being processed and added again is processed once more
// afterwards (never twice at the same time); a failed key comes back after a per-key exponential
// backoff, reset by a success (forget). Workers take keys in order.

export interface WorkQueueOptions {
  /** First retry delay after a failure; doubles per consecutive failure of the key, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Keys processed at the same time. */
  workers: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Added while processing: queued again when its processing ends. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Idle workers, each waiting to be woken for a key. */
  private readonly idle: (() => void)[] = [];
  private stopped = false;
  private running: Promise<void>[] = [];
  /** Keys waiting, being processed, or waiting for a retry (for tests and metrics). */
  get depth(): number {
    return this.queue.length + this.processing.size + this.timers.size;
  }

  constructor(private readonly opts: WorkQueueOptions) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.idle.shift()?.();
  }

  /** Back in `ms` (a later add() is not held up by it; one pending timer per key). */
  addAfter(key: string, ms: number): void {
    if (this.stopped || this.timers.has(key)) return;
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  /** After a failure: back in `baseDelay × 2^(failures-1)`. */
  addRateLimited(key: string): void {
    if (this.stopped || this.timers.has(key)) return;
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    this.addAfter(key, Math.min(this.opts.baseDelayMs * 2 ** (n - 1), this.opts.maxDelayMs));
  }

  /** After a success: the key's next failure starts from the base delay again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Consecutive failures of `key` so far. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * Runs `work` for each key with `workers` keys at a time. `work` returns true when done (the
   * key is forgotten), false or throws to be retried with backoff.
   */
  run(work: (key: string) => Promise<boolean>, onError?: (key: string, e: unknown) => void): void {
    const worker = async () => {
      while (!this.stopped) {
        const key = this.queue.shift();
        if (key === undefined) {
          await new Promise<void>((r) => { this.idle.push(r); });
          continue;
        }
        this.queued.delete(key);
        this.processing.add(key);
        let ok = false;
        try {
          ok = await work(key);
        } catch (e) {
          onError?.(key, e);
        }
        this.processing.delete(key);
        if (ok) this.forget(key);
        else this.addRateLimited(key);
        if (this.dirty.delete(key)) this.add(key);
      }
    };
    for (let i = 0; i < this.opts.workers; i++) this.running.push(worker());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const w of this.idle.splice(0)) w();
    await Promise.allSettled(this.running);
  }
}
