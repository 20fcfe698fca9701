import { checkLinks, checkPod, labState } from '../../lab';
import { UsageError } from '../../errors';
import { OUTPUT_OPTION, wantsJson, type Command } from '../command';
import { out, outJson } from '../output';
import { showLinks, topologiesOf } from '../views';

export const check: Command = {
  name: 'check',
  usage: `meshnetctl lab check NAME [--output json]
                                      CNI CHECK every pod's chain, then ping across every addressed link`,
  options: OUTPUT_OPTION,
  async run(p) {
    const json = wantsJson(p);
    const name = p.positionals[0];
    if (!name) throw new UsageError('lab check needs a NAME');
    const state = labState(name);
    // CNI CHECK through each pod's chain, as a runtime does, then traffic across every link.
    let ok = true;
    const pods: { pod: string; check: 'ok' | 'skipped' | 'failed'; error?: string }[] = [];
    for (const pod of state.pods) {
      const node = state.nodes.find((n) => n.name === pod.node)!;
      try {
        const checked = await checkPod(state, node, pod);
        pods.push({ pod: `${pod.namespace}/${pod.name}`, check: checked ? 'ok' : 'skipped' });
        if (!json) out(`CNI CHECK ${pod.namespace}/${pod.name}: ${checked ? 'ok' : `skipped (${state.runtime === 'containerd' ? 'a CRI runtime never runs CHECK' : 'its CNI config predates CHECK, 0.4.0'})`}`);
      } catch (e) {
        ok = false;
        pods.push({ pod: `${pod.namespace}/${pod.name}`, check: 'failed', error: (e as Error).message });
        if (!json) out(`CNI CHECK ${pod.namespace}/${pod.name}: FAILED: ${(e as Error).message}`);
      }
    }
    if (json) {
      const links = await checkLinks(state, await topologiesOf(state), { traffic: true });
      const pass = ok && links.every((r) => r.pass);
      outJson({ lab: name, pass, pods, links });
      return pass ? 0 : 1;
    }
    return (await showLinks(state, { traffic: true })) && ok ? 0 : 1;
  },
};
