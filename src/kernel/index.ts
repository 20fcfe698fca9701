/** The kernel layer: the only code that touches koffi/libc. See README.md for the netns hazards. */
export { KernelError, isKernelError } from './errors';
export { NetNs, withNetns, createNamedNetns, deleteNamedNetns, listNamedNetns, netnsPathExists, netnsPath, NETNS_RUN_DIR } from './netns';
export { Rtnl } from './rtnl';
export type {
  LinkInfo, LinkStats, VxlanInfo, AddrInfo, RouteSpec, RouteInfo, RuleSpec, NeighSpec, NeighInfo, VethSpec, VxlanSpec, MacvlanSpec,
} from './rtnl';
export { createTap, closeFd } from './tap';
export { readSysctl, writeSysctl } from './sysctl';
export { disableTxOffloads, txOffloadsEnabled } from './ethtool';
export { lockFile } from './filelock';
export { parseCidr, parseIp, formatIp, parseMac, formatMac, validateIfName, ipFamily } from './ip';
export type { Cidr, Family } from './ip';
export { PacketSocket, VNET_HDR_LEN } from './packet';
export type { PacketSocketOptions, PacketSocketStats } from './packet';
export { EthertypeSocket } from './ethertype-socket';
export type { ReceivedFrame } from './ethertype-socket';
export { listenTcpInNetns } from './tcp-listen';
export { mountsUnder, unmountUnder } from './mounts';
