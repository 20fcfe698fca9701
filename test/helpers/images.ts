// Images the container-pod tests run, made here (no registry is reachable): a busybox image from
// Debian's busybox-static (scripts/ensure.sh installs it), a couple of MB, made in milliseconds.
import { readFileSync, writeFileSync } from 'node:fs';
import { layerOf, ociArchive } from '../../src/runtime/oci-image';

export const BUSYBOX_REF = 'localhost/meshnet-test/busybox:1';

/** The applets the tests call, as links to /bin/busybox. */
const APPLETS = ['sh', 'ip', 'ping', 'cat', 'ls', 'sleep', 'hostname', 'echo', 'ps', 'env', 'grep', 'true', 'false', 'touch', 'mkdir'];

/** Writes an OCI archive of a busybox image named `ref` to `path`. */
export function writeBusyboxArchive(path: string, ref = BUSYBOX_REF): void {
  const layer = layerOf([
    { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    ...APPLETS.map((a) => ({ path: `bin/${a}`, link: 'busybox' })),
    { path: 'etc/image-release', data: Buffer.from(`busybox test image ${ref}\n`) },
  ]);
  writeFileSync(path, ociArchive(ref, [layer], { cmd: ['/bin/sh'] }));
}
