import { checkLinks, labApply, labState, readLabFile } from '../../lab';
import { UsageError } from '../../errors';
import type { Command } from '../command';
import { out } from '../output';
import { showLinks, topologiesOf } from '../views';
import { FILE_OPTIONS, fileOptions } from './file-options';

export const apply: Command = {
  name: 'apply',
  usage: `meshnetctl lab apply FILE [--no-check] [--name NAME] [--nodes N]
                                      apply an edited FILE to its running lab: Topologies updated (links of
                                      running pods plumbed, removed, re-addressed), pods added, removed or
                                      moved, nodes added; prints what changed, then checks every link`,
  options: FILE_OPTIONS,
  async run(p) {
    const file = p.positionals[0];
    if (!file) throw new UsageError('lab apply needs a FILE');
    const spec = readLabFile(file, fileOptions(p).opts);
    const changes = await labApply(spec);
    out(changes.length ? changes.join('\n') : `lab "${spec.name}" already matches ${file}: nothing to change`);
    if (p.values['no-check']) return 0;
    // The reconcilers plumb asynchronously: give them a moment before proving every link.
    const state = labState(spec.name);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await checkLinks(state, await topologiesOf(state), { traffic: false })).some((r) => !r.pass)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return (await showLinks(state, { traffic: true })) ? 0 : 1;
  },
};
