// The pod's directory in the cgroup v1 net_cls hierarchy, found by searching rather than by
// guessing the QoS class (upstream built one path and broke on Guaranteed pods and on the
// systemd driver). Layouts, relative to the net_cls mount point:
//   cgroupfs: kubepods/pod<uid>                       (Guaranteed)
//             kubepods/{burstable,besteffort}/pod<uid>
//   systemd:  kubepods.slice/kubepods-pod<uid_>.slice (Guaranteed)
//             kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice
// where uid_ is the uid with "-" replaced by "_". A kubelet --cgroup-root prefix (kind nodes use
// kubelet.slice/kubelet-kubepods.slice/...) is covered because the search descends into any
// kubelet*/kubepods* directory, up to MAX_DEPTH levels below the mount point.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MeshnetError } from '../../errors';

/** What kmesh's eBPF programs match on: the classid as the kernel prints it (0x1000). */
export const KMESH_CLASSID = 0x1000;
const MAX_DEPTH = 5;

export class CgroupNotFoundError extends MeshnetError {
  readonly code = 'CgroupNotFound';
}

function podDirMatcher(uid: string): (name: string) => boolean {
  const cgroupfs = `pod${uid}`;
  const systemdSuffix = `pod${uid.replace(/-/g, '_')}.slice`;
  return (name) => name === cgroupfs || name === systemdSuffix || name.endsWith(`-${systemdSuffix}`);
}

const descendInto = (name: string): boolean =>
  name.startsWith('kubepods') || name.startsWith('kubelet') || name === 'burstable' || name === 'besteffort' || name === 'guaranteed';

/** Absolute path of the pod's net_cls cgroup directory; throws CgroupNotFoundError naming what was searched. */
export function findPodCgroup(root: string, uid: string): string {
  if (!/^[0-9a-fA-F-]+$/.test(uid)) throw new CgroupNotFoundError(`pod uid ${JSON.stringify(uid)} is not a Kubernetes uid`);
  const isPod = podDirMatcher(uid);
  let level = [root];
  for (let depth = 0; depth < MAX_DEPTH && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch (e) {
        if (dir === root) throw new CgroupNotFoundError(`cannot read net_cls root ${root}: ${(e as Error).message} (is the cgroup v1 net_cls controller mounted there?)`);
        continue;
      }
      for (const ent of entries) {
        if (!ent.isDirectory()) continue;
        if (isPod(ent.name)) return join(dir, ent.name);
        if (descendInto(ent.name)) next.push(join(dir, ent.name));
      }
    }
    level = next;
  }
  throw new CgroupNotFoundError(
    `no cgroup directory for pod uid ${uid} under ${root} (looked for pod${uid} and *pod${uid.replace(/-/g, '_')}.slice below kubepods*/kubelet*)`,
  );
}

export function writeClassid(podDir: string, classid: number): void {
  // The kernel parses the value with base 0; decimal is what it prints back.
  writeFileSync(join(podDir, 'net_cls.classid'), String(classid));
}

export function readClassid(podDir: string): number {
  return Number.parseInt(readFileSync(join(podDir, 'net_cls.classid'), 'utf8').trim(), 10);
}
