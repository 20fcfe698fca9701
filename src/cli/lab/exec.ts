import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LabError, containerPid, labState } from '../../lab';
import { UsageError } from '../../errors';
import type { Command } from '../command';

export const exec: Command = {
  name: 'exec',
  usage: 'meshnetctl lab exec NAME POD -- CMD run CMD in a pod (POD or NAMESPACE/POD): in its container for a pod that runs an image, else in its network namespace',
  /** The command's own flags belong to CMD: the argument list is split at `--`, not parsed. */
  raw: true,
  async run(_p, argv) {
    const dash = argv.indexOf('--');
    const [name, podArg] = dash >= 0 ? argv.slice(0, dash) : argv.slice(0, 2);
    const cmd = dash >= 0 ? argv.slice(dash + 1) : argv.slice(2);
    if (!name || !podArg || cmd.length === 0) throw new UsageError('lab exec needs NAME POD -- CMD');
    const state = labState(name);
    const [ns, pod] = podArg.includes('/') ? podArg.split('/', 2) as [string, string] : ['default', podArg];
    const p = state.pods.find((x) => x.name === pod && x.namespace === ns);
    if (!p) throw new LabError(`lab "${name}" has no pod ${ns}/${pod} (pods: ${state.pods.map((x) => x.name).join(', ')})`);
    if (p.container) {
      // Into the container itself: all its namespaces, its root and working directory (the
      // image's filesystem), with a plain environment (the host's PATH may name nothing there).
      const pid = await containerPid(state, p);
      const r = spawnSync('/usr/bin/nsenter', ['--target', String(pid), '--all', '--root', '--wd', '--', ...cmd], {
        stdio: 'inherit', env: { HOME: '/root', TERM: process.env.TERM ?? 'xterm', ...containerEnv(pid) },
      });
      return r.status ?? 1;
    }
    const r = spawnSync('ip', ['netns', 'exec', p.netns, ...cmd], { stdio: 'inherit' });
    return r.status ?? 1;
  },
};

/** The environment of the container's first process (its image's and its pod's), as `kubectl exec` gives it. */
function containerEnv(pid: number): Record<string, string> {
  const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  try {
    for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
  } catch { /* gone meanwhile: nsenter says so */ }
  return env;
}
