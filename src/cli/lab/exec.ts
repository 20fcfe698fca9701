import { spawnSync } from 'node:child_process';
import { LabError, labState } from '../../lab';
import { UsageError } from '../../errors';
import type { Command } from '../command';

export const exec: Command = {
  name: 'exec',
  usage: 'meshnetctl lab exec NAME POD -- CMD run CMD inside a pod\'s network namespace (POD or NAMESPACE/POD)',
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
    const r = spawnSync('ip', ['netns', 'exec', p.netns, ...cmd], { stdio: 'inherit' });
    return r.status ?? 1;
  },
};
