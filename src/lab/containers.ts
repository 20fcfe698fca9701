// A lab's container pods once they run: the `exec:` commands once the pod's links are up (as
// containerlab's exec), their containers' states, and the process `meshnetctl lab exec` enters
// (its mount, PID, UTS, IPC and network namespaces, its root and working directory: the image's
// filesystem, not the host's).
import { setTimeout as sleep } from 'node:timers/promises';
import { containerStatus, execSync } from '../cri/containers';
import { criClient } from '../cri/sandboxes';
import { openStore } from '../store';
import { TopologyClient } from '../topology';
import { checkLinks } from './checks';
import { nodeRuntime } from './containerd-node';
import { LabError } from './errors';
import type { LabState, PodState } from './state';
import { shellWords } from './shell-words';

export { shellWords };

/** How long `exec:` waits for a pod's links to be up before running anyway (and saying so). */
const LINKS_UP_TIMEOUT_MS = 30_000;

export interface ExecOutcome {
  pod: string;
  command: string;
  exitCode: number;
  output: string;
}

/**
 * Runs the `exec:` commands of every container pod (of `only`), in order, once its links are up; a failing
 * command is reported (as containerlab reports it) and the next one still runs.
 */
export async function runPodExecs(state: LabState, report?: (o: ExecOutcome) => void, only: PodState[] = state.pods): Promise<ExecOutcome[]> {
  const pods = only.filter((p) => p.container?.exec?.length && p.container.id);
  const out: ExecOutcome[] = [];
  if (pods.length === 0) return out;
  const topologies = new TopologyClient(await openStore(state.store));
  const end = Date.now() + LINKS_UP_TIMEOUT_MS;
  for (const pod of pods) {
    const mine = (r: { a: string; b: string }) => [r.a, r.b].some((e) => e.startsWith(`${pod.name}:`));
    while (Date.now() < end) {
      const rows = (await checkLinks(state, await topologies.list(pod.namespace), { traffic: false })).filter(mine);
      if (rows.every((r) => r.pass)) break;
      await sleep(100);
    }
    const node = state.nodes.find((n) => n.name === pod.node)!;
    const c = criClient(nodeRuntime(state, node).socket);
    try {
      for (const command of pod.container!.exec!) {
        let o: ExecOutcome;
        try {
          const r = await execSync(c, pod.container!.id!, shellWords(command), 60);
          o = { pod: pod.name, command, exitCode: r.exitCode, output: `${r.stdout}${r.stderr}`.trimEnd() };
        } catch (e) {
          o = { pod: pod.name, command, exitCode: -1, output: (e as Error).message };
        }
        out.push(o);
        report?.(o);
      }
    } finally {
      c.close();
    }
  }
  return out;
}

/** The host PID of a container pod's first process, for nsenter; a clear error when it does not run. */
export async function containerPid(state: LabState, pod: PodState): Promise<number> {
  const node = state.nodes.find((n) => n.name === pod.node)!;
  const c = criClient(nodeRuntime(state, node).socket);
  try {
    const st = await containerStatus(c, pod.container!.id!);
    if (!st.pid) throw new LabError(`pod ${pod.namespace}/${pod.name}: its container (image ${pod.container!.image}) is ${st.state}${st.state === 'exited' ? ` (exit code ${st.exitCode})` : ''}, not running`);
    return st.pid;
  } finally {
    c.close();
  }
}

/** Each container pod's container state ("running", "exited (code 1)", or why it is unknown), by namespace/name. */
export async function containerStates(state: LabState): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const pod of state.pods) {
    if (!pod.container) continue;
    const key = `${pod.namespace}/${pod.name}`;
    if (!pod.container.id) {
      out.set(key, 'not created');
      continue;
    }
    const node = state.nodes.find((n) => n.name === pod.node)!;
    const c = criClient(nodeRuntime(state, node).socket, { timeoutMs: 5000 });
    try {
      const st = await containerStatus(c, pod.container.id);
      out.set(key, st.state === 'exited' ? `exited (code ${st.exitCode})` : st.state);
    } catch (e) {
      out.set(key, `unknown: ${(e as Error).message}`);
    } finally {
      c.close();
    }
  }
  return out;
}
