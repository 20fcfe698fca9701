import { capture as captureLink, labState, parseEndpoint, type CaptureOptions } from '../../lab';
import { UsageError } from '../../errors';
import { positiveInt, type Command } from '../command';

export const capture: Command = {
  name: 'capture',
  usage: `meshnetctl lab capture NAME POD:IFACE [-w FILE.pcap | -w -] [-c COUNT] [--duration SECONDS] [FILTER]
                                      capture what a pod's interface sends and receives (any link kind;
                                      FILTER: a tcpdump filter expression such as icmp or 'tcp port 179'):
                                      a pcap file, a pcap stream on stdout (-w -, e.g. | tcpdump -r -),
                                      or decoded lines; stops after COUNT packets, SECONDS or Ctrl-C`,
  options: { write: { type: 'string', short: 'w' }, count: { type: 'string', short: 'c' }, duration: { type: 'string' } },
  async run(p) {
    const [name, endpoint, ...filter] = p.positionals;
    if (!name || !endpoint) throw new UsageError('lab capture needs NAME POD:IFACE');
    const opts: CaptureOptions = {};
    if (typeof p.values.write === 'string') opts.write = p.values.write;
    const count = positiveInt('-c', p.values.count, 'a packet count');
    if (count !== undefined) opts.count = count;
    const d = p.values.duration;
    if (d !== undefined) {
      if (typeof d !== 'string' || !/^\d+(\.\d+)?$/.test(d) || Number(d) <= 0) throw new UsageError(`--duration needs a number of seconds above 0, got ${JSON.stringify(d)}`);
      opts.durationS = Number(d);
    }
    return captureLink(parseEndpoint(labState(name), endpoint), { ...opts, ...(filter.length ? { filter } : {}) });
  },
};
