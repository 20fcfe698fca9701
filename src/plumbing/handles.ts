// Opened netns handles and rtnetlink sockets for one piece of work (a CNI call, a sync), closed
// together at the end: a link touches the pod's netns, maybe its peer's, and the node's.
import { NetNs, Rtnl } from '../kernel';
import type { LinkEnd } from './links';

/** This process's netns: the node's, since runtimes run plugins there and meshnetd runs there. */
export const NODE_NETNS = '/proc/self/ns/net';

export class Handles {
  private readonly opened: { ns: NetNs; rtnl: Rtnl }[] = [];
  private readonly byPath = new Map<string, { ns: NetNs; rtnl: Rtnl }>();

  get(path: string): { ns: NetNs; rtnl: Rtnl } {
    let h = this.byPath.get(path);
    if (!h) {
      const ns = NetNs.open(path);
      try {
        h = { ns, rtnl: Rtnl.open(ns) };
      } catch (e) {
        ns.close();
        throw e;
      }
      this.byPath.set(path, h);
      this.opened.push(h);
    }
    return h;
  }

  end(path: string, intf: string, ip: string | undefined): LinkEnd {
    const h = this.get(path);
    return { ns: h.ns, rtnl: h.rtnl, intf, ip };
  }

  close(): void {
    for (const h of this.opened) {
      h.rtnl.close();
      h.ns.close();
    }
  }
}
