import { labState, parseEndpoint, setCable } from '../../lab';
import { UsageError } from '../../errors';
import type { Command } from '../command';
import { out } from '../output';

export const link: Command = {
  name: 'link',
  usage: `meshnetctl lab link down|up NAME POD:IFACE
                                      pull a link's cable, or plug it back: both halves of the link in the
                                      Topologies get state: down (or lose it) and the nodes' meshnetd make
                                      both ends follow (a grpc-wire: NO-CARRIER in both pods; other kinds:
                                      both interfaces admin-down); kept through daemon restarts`,
  async run(p) {
    const [dir, name, endpoint] = p.positionals;
    if (dir !== 'down' && dir !== 'up') throw new UsageError(`lab link takes down or up, got ${dir === undefined ? 'nothing' : JSON.stringify(dir)}`);
    if (!name || !endpoint) throw new UsageError(`lab link ${dir} needs NAME POD:IFACE`);
    const state = labState(name);
    const r = await setCable(state, parseEndpoint(state, endpoint), dir === 'down');
    const what = r.down ? 'cable pulled' : 'cable plugged back';
    out(`link uid ${r.uid} ${r.a} - ${r.b}: ${what}${r.seen ? (r.down ? ': both ends without carrier' : ': both ends have carrier') : ' (the pods\' interfaces did not show it within 10 s: is every pod and meshnetd running?)'}`);
    return r.seen ? 0 : 1;
  },
};
