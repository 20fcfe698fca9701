// Container pods (issue 18): a 20-pod ring over two lab nodes whose pods run a small local image
// (busybox) through each node's containerd, up with every link proven by Ethernet frames, against
// the same ring of bare pods (network namespaces, the lab's default) in the same run. The image
// archive is imported into a lab image directory of the run's own; each node's containerd gets it
// during lab up, which the container ring's time includes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLinks, importImageArchive, labDown, labUp, type LabSpec } from '../src/lab';
import { openStore } from '../src/store';
import { TopologyClient } from '../src/topology';
import { BUSYBOX_REF, writeBusyboxArchive } from '../src/runtime/busybox-image';
import { ringSpec } from './scale';
import { target, type Target } from './stats';

export interface ContainersResult {
  pods: number;
  bareMs: number;
  containerMs: number;
  bareProven: boolean;
  containerProven: boolean;
  targets: Target[];
}

const PODS = 20;

/** lab up of `spec`, then every link proven; the wall clock of both, and whether every link passed. */
async function ringUp(spec: LabSpec, cniBinDir: string): Promise<{ ms: number; proven: boolean }> {
  const t0 = performance.now();
  try {
    const state = await labUp(spec, '(bench container ring)', { cniBinDir });
    const rows = await checkLinks(state, await new TopologyClient(await openStore(state.store)).list());
    return { ms: performance.now() - t0, proven: rows.length === PODS && rows.every((r) => r.pass) };
  } finally {
    await labDown(spec.name);
  }
}

export async function benchContainers(cniBinDir: string): Promise<ContainersResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-containers-'));
  const before = process.env.MESHNET_LAB_IMAGES;
  process.env.MESHNET_LAB_IMAGES = join(dir, 'images');
  try {
    const archive = join(dir, 'busybox.oci.tar');
    writeBusyboxArchive(archive);
    await importImageArchive(archive);
    const tag = `${process.pid % 1000}`;
    const bare = await ringUp(ringSpec(`bcb${tag}`, PODS, 2), cniBinDir);
    const cont = await ringUp(ringSpec(`bcc${tag}`, PODS, 2, { image: BUSYBOX_REF, command: ['/bin/sleep', '1000000'] }), cniBinDir);
    // A ring whose links are not all proven has no bring-up time.
    const ratio = bare.proven && cont.proven ? cont.ms / bare.ms : Infinity;
    return {
      pods: PODS, bareMs: bare.ms, containerMs: cont.ms, bareProven: bare.proven, containerProven: cont.proven,
      targets: [target('container-ring-bringup', ratio, 3, 'max', 'x')],
    };
  } finally {
    if (before === undefined) delete process.env.MESHNET_LAB_IMAGES;
    else process.env.MESHNET_LAB_IMAGES = before;
    rmSync(dir, { recursive: true, force: true });
  }
}
