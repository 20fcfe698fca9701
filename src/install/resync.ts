// The loop every installer runs: do the whole reconcile step once, then again whenever a watched
// directory changes (debounced) and on a timer (a watch can miss events: an overlay filesystem,
// a directory replaced under us). A config caught mid-write (ConfInFlux) is retried shortly;
// other failures are logged and retried on the next event or tick.
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { ConfInFlux } from './conflist';
import type { Logger } from '../log';

export interface ResyncOptions {
  dirs: string[];
  resyncMs: number;
  /** The reconcile step; idempotent. */
  step(): void;
  log: Logger;
}

const DEBOUNCE_MS = 100;
const IN_FLUX_RETRY_MS = 300;

export class ResyncLoop {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: ResyncOptions) {}

  start(): void {
    for (const d of this.opts.dirs) if (existsSync(d)) this.watchers.push(watch(d, () => this.kick()));
    this.timer = setInterval(() => this.run(), this.opts.resyncMs);
  }

  kick(delay = DEBOUNCE_MS): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.run(), delay);
  }

  /** One step now, errors logged. */
  run(): void {
    if (this.stopped) return;
    try {
      this.opts.step();
    } catch (e) {
      if (e instanceof ConfInFlux) {
        this.opts.log.info(`waiting: ${e.message}`);
        this.kick(IN_FLUX_RETRY_MS);
      } else {
        this.opts.log.warn(`resync failed: ${(e as Error).message}`);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}
