/**
 * Interface aliases (IFLA_IFALIAS, what `ip link set X alias ...` writes). A separate addition to
 * the kernel layer: the meta plugins store a small marker on links they create, so a later CNI
 * call can tell its own links (and which attachment made them) from anybody else's without any
 * state file. Uses its own short-lived NETLINK_ROUTE socket in the given netns.
 */
import { validateIfName } from './ip';
import { MsgBuilder, NetlinkSocket, NLM_F_ACK, parseAttrs, attrStr } from './netlink';
import type { NetNs } from './netns';

const RTM_NEWLINK = 16, RTM_GETLINK = 18;
const IFLA_IFNAME = 3, IFLA_IFALIAS = 20, IFLA_EXT_MASK = 29;
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const ENODEV = 19;
const IFALIASZ = 256; // include/linux/if.h: the kernel rejects longer aliases

function ifinfomsg(): Buffer {
  return Buffer.alloc(16);
}

function withSocket<T>(ns: NetNs | undefined, fn: (s: NetlinkSocket) => T): T {
  const sock = NetlinkSocket.open(ns);
  try {
    return fn(sock);
  } finally {
    sock.close();
  }
}

/** Sets (or with '' clears) the alias of `name` in ns (default: the current netns). */
export function setLinkAlias(name: string, alias: string, ns?: NetNs): void {
  validateIfName(name);
  if (typeof alias !== 'string' || Buffer.byteLength(alias) >= IFALIASZ || alias.includes('\0')) {
    throw new Error(`alias: must be a string shorter than ${IFALIASZ} bytes without NUL`);
  }
  const where = ns ? ` in netns ${ns.path}` : '';
  withSocket(ns, (s) => {
    const msg = new MsgBuilder(RTM_NEWLINK, NLM_F_ACK, ifinfomsg()).str(IFLA_IFNAME, name).str(IFLA_IFALIAS, alias);
    s.request(msg, `setting alias of ${name}${where}`);
  });
}

/** The alias of `name` ('' when none), or undefined when the link does not exist. */
export function linkAlias(name: string, ns?: NetNs): string | undefined {
  validateIfName(name);
  const where = ns ? ` in netns ${ns.path}` : '';
  return withSocket(ns, (s) => {
    const msg = new MsgBuilder(RTM_GETLINK, 0, ifinfomsg()).str(IFLA_IFNAME, name).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    const p = s.get(msg, RTM_NEWLINK, `looking up alias of ${name}${where}`, [ENODEV]);
    if (!p) return undefined;
    return attrStr(parseAttrs(p, 16), IFLA_IFALIAS) ?? '';
  });
}

