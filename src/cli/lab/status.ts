import { checkLinks, containerStates, labState, listLabs } from '../../lab';
import { OUTPUT_OPTION, wantsJson, type Command } from '../command';
import { out, outJson } from '../output';
import { describe, showLinks, statusOf, topologiesOf } from '../views';

export const status: Command = {
  name: 'status',
  usage: `meshnetctl lab status [NAME] [--output json]
                                      nodes, pods and link state of a running lab (all labs without NAME)`,
  options: OUTPUT_OPTION,
  async run(p) {
    const names = p.positionals.slice(0, 1);
    if (names.length === 0) names.push(...listLabs());
    if (wantsJson(p)) {
      const labs = [];
      for (const name of names) {
        const state = labState(name);
        labs.push({ ...statusOf(state, await containerStates(state)), links: await checkLinks(state, await topologiesOf(state), { traffic: false }) });
      }
      outJson({ labs });
      return 0;
    }
    if (names.length === 0) out('no labs are up');
    for (const name of names) {
      const state = labState(name);
      out(describe(state, await containerStates(state)));
      await showLinks(state, { traffic: false });
    }
    return 0;
  },
};
