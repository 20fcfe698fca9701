import { LabError, labState, restartDaemon as restart, saveState } from '../../lab';
import { UsageError } from '../../errors';
import type { Command } from '../command';
import { out } from '../output';

export const restartDaemon: Command = {
  name: 'restart-daemon',
  usage: 'meshnetctl lab restart-daemon NAME NODE  restart one node\'s meshnetd (its wires are reattached, pods untouched)',
  async run(p) {
    const [name, nodeName] = p.positionals;
    if (!name || !nodeName) throw new UsageError('lab restart-daemon needs NAME NODE');
    const state = labState(name);
    const node = state.nodes.find((n) => n.name === nodeName);
    if (!node) throw new LabError(`lab "${name}" has no node ${nodeName} (nodes: ${state.nodes.map((n) => n.name).join(', ')})`);
    const pid = await restart(state, node);
    saveState(state);
    out(`meshnetd for node ${nodeName} restarted: pid ${pid}`);
    return 0;
  },
};
