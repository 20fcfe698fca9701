// Rollback for ADD: every kernel change that created or replaced something records how to take
// it back; a failed ADD runs the steps newest-first, so the pod and the host are left as they
// were. Steps that fail while undoing are logged and skipped: undo is best effort by nature.
import type { Logger } from './log';

export class Undo {
  private steps: { what: string; fn: () => void }[] = [];

  push(what: string, fn: () => void): void {
    this.steps.push({ what, fn });
  }

  /** Runs all steps newest-first and forgets them. */
  run(log: Logger): void {
    const steps = this.steps.reverse();
    this.steps = [];
    for (const s of steps) {
      try {
        s.fn();
        log.debug(`rolled back: ${s.what}`);
      } catch (e) {
        log.warn(`rollback of "${s.what}" failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  /** ADD succeeded: keep everything. */
  commit(): void {
    this.steps = [];
  }
}
