// A busybox image made here (no registry is reachable on a lab machine): Debian's busybox-static
// binary and links to it for a few applets, packed as an OCI archive. The container-pod tests and
// the container bench run it; a couple of MB, made in milliseconds.
import { readFileSync, writeFileSync } from 'node:fs';
import { layerOf, ociArchive } from './oci-image';

export const BUSYBOX_REF = 'localhost/meshnet-test/busybox:1';

/** The applets the tests and bench call, as links to /bin/busybox. */
const APPLETS = ['sh', 'ip', 'ping', 'cat', 'ls', 'sleep', 'hostname', 'echo', 'ps', 'env', 'grep', 'true', 'false', 'touch', 'mkdir'];

/** Writes an OCI archive of a busybox image named `ref` to `path` (from /bin/busybox, which must be static). */
export function writeBusyboxArchive(path: string, ref = BUSYBOX_REF): void {
  const layer = layerOf([
    { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    ...APPLETS.map((a) => ({ path: `bin/${a}`, link: 'busybox' })),
    { path: 'etc/image-release', data: Buffer.from(`busybox test image ${ref}\n`) },
  ]);
  writeFileSync(path, ociArchive(ref, [layer], { cmd: ['/bin/sh'] }));
}
