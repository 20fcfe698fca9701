// A lab whose runtime is containerd (lab file `runtime: containerd`): each node runs its own
// containerd (src/runtime/containerd.ts) with the node's primary CNI config in its conf dir, the
// node's meshnetd chains meshnet into that dir as the DaemonSet does, and every pod is a sandbox
// made through the node's CRI, so the runtime runs the CNI chain exactly as on a cluster node.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { containerdNode, importImage, prepareContainerdNode, startContainerd, stopContainerd, PAUSE_IMAGE, type ContainerdNode } from '../runtime/containerd';
import { criClient, listSandboxes, netnsName, removeSandbox, runSandbox } from '../cri/sandboxes';
import { imagePresent, pullImage, runContainer } from '../cri/containers';
import { LabError } from './errors';
import { labImageDir, storedImage } from './images';
import { layerOf, ociArchive } from '../runtime/oci-image';
import { netnsPath } from './names';
import type { LabState, NodeState, PodState } from './state';

/** The name of the primary CNI config each node's runtime starts with (meshnetd's sorts before it). */
export const PRIMARY_CONFLIST = '10-lab-bridge.conflist';
/** How long the CRI may take to list an image `ctr import` has just imported. */
const IMPORT_SEEN_TIMEOUT_MS = 10_000;
/** How long meshnetd may take to chain meshnet into a new node's CNI config. */
const CHAINED_TIMEOUT_MS = 30_000;

export function nodeRuntime(state: LabState, node: NodeState): ContainerdNode {
  return containerdNode(join(state.dir, 'nodes', node.name));
}

/** The lab's sandbox image, packed once per lab from the build's static pause program. */
function pauseArchive(state: LabState): string {
  const out = join(state.dir, 'images', 'meshnet-pause.oci.tar');
  if (existsSync(out)) return out;
  const bin = join(state.cniBinDir, '..', 'runtime', 'pause');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: npm run build compiles it (it needs cc and a static libc)`);
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, ociArchive(PAUSE_IMAGE, [layerOf([{ path: 'pause', data: readFileSync(bin), mode: 0o755 }])], { entrypoint: ['/pause'] }));
  return out;
}

/** Prepares and starts the node's containerd with `primary` as its CNI config, and gives it the sandbox image. */
export async function startNodeRuntime(state: LabState, node: NodeState, primary: Record<string, unknown>): Promise<void> {
  const n = nodeRuntime(state, node);
  prepareContainerdNode(n, { file: PRIMARY_CONFLIST, text: JSON.stringify(primary, null, 2) });
  node.containerd = {};
  node.containerd.pid = await startContainerd(n, netnsPath(node.netns));
  await importImage(n, pauseArchive(state));
}

/** Waits until the node's meshnetd has chained meshnet into the runtime's CNI config. */
export async function waitChained(state: LabState, node: NodeState): Promise<void> {
  const file = join(nodeRuntime(state, node).cniConfDir, '00-meshnet.conflist');
  const end = Date.now() + CHAINED_TIMEOUT_MS;
  while (!existsSync(file)) {
    if (Date.now() > end) throw new Error(`meshnetd of node ${node.name} did not chain meshnet into ${file} within ${CHAINED_TIMEOUT_MS} ms; see ${join(state.dir, 'nodes', node.name, 'meshnetd.log')}`);
    await sleep(20);
  }
}

/**
 * The pod's sandbox through the node's CRI (the runtime runs the CNI chain), then, for a pod that
 * names an image, its container in it, as a kubelet starts a pod; records ids and netns. A
 * container that cannot start takes its sandbox with it (nothing half-made).
 */
export async function startCriPod(state: LabState, node: NodeState, pod: PodState): Promise<void> {
  const c = criClient(nodeRuntime(state, node).socket);
  try {
    const sandbox = {
      name: pod.name, namespace: pod.namespace, uid: pod.uid,
      logDirectory: join(state.dir, 'nodes', node.name, 'pods', `${pod.namespace}_${pod.name}_${pod.uid}`),
      // Router images configure their interfaces, routes and sysctls: privileged, as containerlab runs them.
      ...(pod.container ? { privileged: true } : {}),
    };
    const s = await runSandbox(c, sandbox);
    pod.sandboxId = s.id;
    pod.containerId = s.id;
    pod.netns = netnsName(s.netnsPath);
    if (s.ip) pod.ip = s.ip;
    if (!pod.container) return;
    const k = pod.container;
    try {
      k.id = await runContainer(c, s.id, sandbox, {
        name: pod.name, image: k.image, logPath: `${pod.name}.log`, privileged: true,
        ...(k.command ? { command: k.command } : {}), ...(k.args ? { args: k.args } : {}), ...(k.env ? { env: k.env } : {}),
        ...(k.binds ? { mounts: k.binds } : {}), ...(k.cpu ? { cpu: k.cpu } : {}), ...(k.memory ? { memory: k.memory } : {}),
      });
    } catch (e) {
      await removeSandbox(c, s.id).catch(() => undefined);
      delete pod.sandboxId;
      throw new LabError(`pod ${pod.namespace}/${pod.name} on node ${node.name}: its container (image ${k.image}) did not start: ${(e as Error).message}`);
    }
  } finally {
    c.close();
  }
}

/**
 * Gives the node's containerd every image its pods name, before any pod starts: one it has is
 * kept; one the lab's image directory holds is imported from there; else containerd pulls it. An
 * image none of these gives fails `lab up` naming the image, its pods and the node.
 */
export async function ensureNodeImages(state: LabState, node: NodeState, pods: ReadonlyArray<{ name: string; node: string; container?: { image: string } }>, log?: (line: string) => void): Promise<void> {
  const wanted = new Map<string, string[]>();
  for (const p of pods) if (p.node === node.name && p.container) wanted.set(p.container.image, [...wanted.get(p.container.image) ?? [], p.name]);
  if (wanted.size === 0) return;
  const n = nodeRuntime(state, node);
  const c = criClient(n.socket);
  try {
    for (const [image, who] of wanted) {
      if (await imagePresent(c, image)) continue;
      const stored = storedImage(image);
      const what = `image ${image} (pods ${who.join(', ')}) on node ${node.name}`;
      if (stored) {
        log?.(`node ${node.name}: importing ${image} (${(stored.bytes / 1e6).toFixed(1)} MB)`);
        await importImage(n, stored.file);
        // The CRI's image list follows containerd's image events: it may lag the import a moment.
        const end = Date.now() + IMPORT_SEEN_TIMEOUT_MS;
        while (!(await imagePresent(c, image))) {
          if (Date.now() > end) throw new LabError(`${what}: ${stored.file} was imported but containerd does not know the image by that name`);
          await sleep(50);
        }
        continue;
      }
      log?.(`node ${node.name}: pulling ${image}`);
      try {
        await pullImage(c, image);
      } catch (e) {
        throw new LabError(`${what} cannot be had: it is not in the lab's images (${labImageDir()}) and containerd could not pull it: ${(e as Error).message}. ` +
          'On a machine without a registry, import the image\'s archive first: meshnetctl lab image import FILE');
      }
    }
  } finally {
    c.close();
  }
}

/** Stops and removes the pod's sandbox (the runtime runs CNI DEL and removes the netns). */
export async function stopCriPod(state: LabState, node: NodeState, pod: PodState): Promise<void> {
  if (!pod.sandboxId) return;
  const c = criClient(nodeRuntime(state, node).socket);
  try {
    await removeSandbox(c, pod.sandboxId);
  } finally {
    c.close();
  }
}

/** Removes every sandbox the node's runtime has (those an interrupted `lab up` never recorded too); a runtime not running has none to remove. */
export async function removeSandboxesOf(state: LabState, node: NodeState): Promise<void> {
  const n = nodeRuntime(state, node);
  if (!node.containerd?.pid || !existsSync(n.socket)) return;
  const c = criClient(n.socket);
  try {
    for (const s of await listSandboxes(c)) await removeSandbox(c, s.id);
  } finally {
    c.close();
  }
}

/** Stops the node's containerd and what it left behind (shims, containers, mounts). */
export async function stopNodeRuntime(state: LabState, node: NodeState): Promise<void> {
  await stopContainerd(nodeRuntime(state, node), node.containerd?.pid);
}
