// The node IP recorded in Topology status when the config does not give one: the preferred
// source address of this netns's IPv4 default route, i.e. the address peers reach us on.
import { Rtnl } from '../kernel';

export function nodeIpFromDefaultRoute(): string | undefined {
  const rtnl = Rtnl.open();
  try {
    const def = rtnl.routes({ family: 4, table: 254 }).find((r) => r.dst === 'default' || r.dst === '0.0.0.0/0');
    if (!def) return undefined;
    if (def.src) return def.src;
    const dev = def.dev;
    const addr = rtnl.addrs(dev).find((a) => a.family === 4);
    return addr?.cidr.split('/')[0];
  } finally {
    rtnl.close();
  }
}
