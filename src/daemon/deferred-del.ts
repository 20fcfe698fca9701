// DELs the exec shim could not hand to meshnetd (it was down: a rollout, a crash) and left in the
// daemon's deferred directory instead, so the runtime's DEL of the rest of the chain could run
// (src/shim/cni-shim.c). meshnetd runs them when it starts and at every resync: far ends, wire
// records and the pod's status are cleaned as the DEL would have cleaned them. A DEL is
// idempotent, and one for a sandbox the pod no longer has is ignored by the plugin (its
// container id is not the pod's), so running them late is safe.
import { readFileSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parseCniRequest, type CniRequest } from './cni-socket';
import type { Logger } from '../log';

/** A deferred DEL that still fails after this long is dropped, with a warning. */
const GIVE_UP_MS = 24 * 3600_000;

export { deferredDir } from '../plumbing/sockets';

export interface DeferredResult {
  done: number;
  failed: number;
}

/**
 * Runs every deferred DEL in `dir`, oldest first, through `run` (the daemon's CNI path, under its
 * lock); a request that succeeds (or is not a DEL, or cannot be parsed) is removed, one that fails
 * stays for the next pass.
 */
export async function runDeferredDels(dir: string, run: (req: CniRequest) => Promise<{ exitCode: number; stdout: string }>, log: Logger): Promise<DeferredResult> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.req')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { done: 0, failed: 0 };
    throw e;
  }
  const out: DeferredResult = { done: 0, failed: 0 };
  for (const n of names) {
    const path = join(dir, n);
    let req: CniRequest;
    try {
      req = parseCniRequest(readFileSync(path));
      if (req.env.CNI_COMMAND !== 'DEL') throw new Error(`it asks for ${req.env.CNI_COMMAND ?? 'no command'}, and only DELs are deferred`);
    } catch (e) {
      log.warn(`deferred DEL ${n}: dropped: ${(e as Error).message}`);
      unlinkSync(path);
      continue;
    }
    const r = await run(req);
    const what = `deferred DEL of container ${(req.env.CNI_CONTAINERID ?? '').slice(0, 12)}`;
    if (r.exitCode === 0) {
      unlinkSync(path);
      out.done++;
      log.info(`${what}: done (the shim left it while meshnetd was away)`);
      continue;
    }
    out.failed++;
    if (Date.now() - statSync(path).mtimeMs > GIVE_UP_MS) {
      unlinkSync(path);
      log.warn(`${what}: dropped after failing for a day: ${r.stdout.trim()}`);
    } else {
      log.warn(`${what}: failed (will retry): ${r.stdout.trim()}`);
    }
  }
  return out;
}
