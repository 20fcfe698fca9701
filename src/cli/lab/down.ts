import { existsSync } from 'node:fs';
import { labDown, readLabFile } from '../../lab';
import { UsageError } from '../../errors';
import type { Command } from '../command';
import { out } from '../output';

export const down: Command = {
  name: 'down',
  usage: 'meshnetctl lab down NAME|FILE       remove everything the lab made',
  async run(p) {
    const arg = p.positionals[0];
    if (!arg) throw new UsageError('lab down needs a NAME or FILE');
    const name = existsSync(arg) && /\.ya?ml$/.test(arg) ? readLabFile(arg).name : arg;
    const r = await labDown(name);
    out(`lab "${name}" down: removed ${r.removedNetns} network namespaces, stopped ${r.daemonsStopped} meshnetd`);
    for (const e of r.podErrors) out(`  DEL error (cleaned up anyway): ${e}`);
    for (const e of r.apiErrors) out(`  Kubernetes API: ${e}`);
    return r.apiErrors.length ? 1 : 0;
  },
};
