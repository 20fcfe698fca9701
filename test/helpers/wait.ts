// Waiting on the kernel or a daemon: poll the condition the test asserts, never sleep and hope.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `f` every 50 ms until it returns a value other than undefined or false (that value is
 * returned); a throw counts as "not yet". After `ms` it fails naming `what` and, when given,
 * what `explain()` says (a daemon's log, the last state seen).
 */
export async function until<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000, explain?: () => string): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${why}${explain ? `\n${explain()}` : ''}`);
    }
    await sleep(50);
  }
}
