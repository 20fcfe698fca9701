import { writeFileSync } from 'node:fs';
import { exportClab, labState } from '../../lab';
import { UsageError } from '../../errors';
import type { Command } from '../command';
import { out } from '../output';
import { topologiesOf } from '../views';

export const exportLab: Command = {
  name: 'export',
  usage: `meshnetctl lab export NAME --format clab [-o FILE]
                                      the lab as a containerlab topology file (stdout, or FILE); lab up reads it back`,
  options: { format: { type: 'string' }, output: { type: 'string', short: 'o' } },
  async run(p) {
    const name = p.positionals[0];
    if (!name) throw new UsageError('lab export needs a NAME');
    if (p.values.format !== 'clab') throw new UsageError(`lab export needs --format clab${p.values.format === undefined ? '' : `, got ${JSON.stringify(p.values.format)}`}`);
    const state = labState(name);
    const text = exportClab(state, await topologiesOf(state));
    if (typeof p.values.output === 'string') {
      writeFileSync(p.values.output, text);
      out(`wrote ${p.values.output}`);
    } else process.stdout.write(text);
    return 0;
  },
};
