// Images the container-pod tests run, made here (no registry is reachable): a busybox image from
// Debian's busybox-static (scripts/ensure.sh installs it), a couple of MB, made in milliseconds;
// an FRR one from Debian's frr package (mmdebstrap), cached between runs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

export { BUSYBOX_REF, writeBusyboxArchive } from '../../src/runtime/busybox-image';

/**
 * A root filesystem with Debian's FRR (mmdebstrap, about 30 s and 140 MB the first time), kept in
 * MESHNET_TEST_CACHE (default /var/cache/meshnet-test) between runs, as the issue allows: no
 * registry is reachable, and building it for every run would cost more than the tests.
 */
export function frrRootfs(): string {
  const cache = process.env.MESHNET_TEST_CACHE || '/var/cache/meshnet-test';
  const out = join(cache, 'frr-bookworm-rootfs.tar');
  if (statSync(out, { throwIfNoEntry: false })?.isFile()) return out;
  rmSync(out, { recursive: true, force: true }); // a directory left by an older helper (see --format below)
  mkdirSync(cache, { recursive: true });
  // --format: mmdebstrap otherwise picks the format from the name, and makes a directory of `….tmp`.
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync('mmdebstrap', ['--quiet', '--format=tar', '--variant=essential', '--include=frr,iproute2,iputils-ping',
    "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
    'bookworm', tmp], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`mmdebstrap of an FRR root filesystem failed (it needs Debian's mirror): ${(r.stderr || String(r.error)).slice(-2000)}`);
  }
  renameSync(tmp, out);
  return out;
}
