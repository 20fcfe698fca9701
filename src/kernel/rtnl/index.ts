/**
 * rtnetlink operations: links, addresses, routes, rules, neighbours (one file per family, as
 * vishvananda/netlink splits them). One Rtnl = one NETLINK_ROUTE socket, created in a netns and
 * bound to it for life.
 */
import { NetNs } from '../netns';
import { NetlinkSocket } from '../netlink';
import { RtnlNeighbours } from './neighbours';

export type * from './types';

export class Rtnl extends RtnlNeighbours {
  /** Socket created inside ns and bound there for life; default: the current netns. */
  static open(ns?: NetNs): Rtnl {
    return new Rtnl(NetlinkSocket.open(ns), ns ? ` in netns ${ns.path}` : '');
  }
}
