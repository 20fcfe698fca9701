import { describeImpairment, impairLink, labState, parseEndpoint } from '../../lab';
import { IMPAIRMENT_KEYS, type ImpairmentKey } from '../../topology';
import { UsageError } from '../../errors';
import { OUTPUT_OPTION, wantsJson, type Command } from '../command';
import { out, outJson } from '../output';

export const impair: Command = {
  name: 'impair',
  usage: `meshnetctl lab impair NAME POD:IFACE [--delay 20ms] [--jitter 5ms] [--loss 1%] [--rate 100mbit]
                           [--corrupt 0.1%] [--duplicate 1%] [--reorder 25%] | --show | --reset  [--output json]
                                      impair the frames leaving POD:IFACE (as netem on it would), show both
                                      directions' settings and counters, or remove them; kept in the link's
                                      Topology half (impairment:), applied by meshnetd in the grpc-wire
                                      dataplane: a veth or VXLAN link becomes a grpc-wire (link_type: grpc)`,
  options: {
    ...OUTPUT_OPTION, show: { type: 'boolean' }, reset: { type: 'boolean' },
    ...Object.fromEntries(IMPAIRMENT_KEYS.map((k) => [k, { type: 'string' }])) as Record<ImpairmentKey, { type: 'string' }>,
  },
  async run(p) {
    const json = wantsJson(p);
    const set: Partial<Record<ImpairmentKey, string>> = {};
    for (const k of IMPAIRMENT_KEYS) if (typeof p.values[k] === 'string') set[k] = p.values[k];
    const show = p.values.show === true;
    const reset = p.values.reset === true;
    const [name, endpoint] = p.positionals;
    if (!name || !endpoint) throw new UsageError('lab impair needs NAME POD:IFACE');
    const setting = Object.keys(set).length > 0;
    if ([setting, show, reset].filter(Boolean).length !== 1) throw new UsageError('lab impair takes impairments to set (--delay, --loss, ...), --show or --reset');
    const state = labState(name);
    const r = await impairLink(state, parseEndpoint(state, endpoint), setting ? { set } : reset ? { reset: true } : {});
    if (json) {
      outJson(r);
      return r.seen || show ? 0 : 1;
    }
    if (r.becameWire) out(`link uid ${r.uid} ${r.a} - ${r.b} is now a grpc-wire (link_type: grpc; it was re-made): impairments live in the wire's dataplane`);
    if (!show) {
      const mine = r.sides[0]!;
      out(`${mine.direction}: ${reset ? 'impairment removed' : `impaired: ${describeImpairment(mine.settings)}`}${r.seen ? '' : ' (written, but meshnetd did not show it within 15 s: is the link up?)'}`);
      return r.seen ? 0 : 1;
    }
    out(`link uid ${r.uid} ${r.a} - ${r.b}`);
    for (const side of r.sides) {
      const c = side.applied?.counters;
      out(`  ${side.direction}: ${describeImpairment(side.settings)}` +
        (c ? `  (lost ${c.lost}, duplicated ${c.duplicated}, corrupted ${c.corrupted}, reordered ${c.reordered}, delayed ${c.delayed}, queue drops ${c.queueDropped}, waiting ${side.applied!.waiting})` : ''));
    }
    return 0;
  },
};
