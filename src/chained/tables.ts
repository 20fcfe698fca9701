// The route-table rule shared by veth and router, and the NIC order used by migrate_route = -1.
//
// Rule: a pod interface whose name ends in a decimal number N uses table 100 + N
// (eth0 → 100, net1 → 101, net9 → 109, net10 → 110). Why this rule:
//  - it is computed from CNI_IFNAME alone, so ADD, CHECK and DEL agree without any state file,
//    and a NIC's table does not depend on the order in which NICs were attached;
//  - N is compared as a number, so net10 never collides with or sorts before net9 (upstream
//    compared names as strings);
//  - it matches the successor project (spiderpool coordinator: 100 reserved for the first NIC,
//    extra NICs numbered from 101), so users moving between the two see the same tables.
// Tables 253-255 are the kernel's default/main/local, so N may be at most 152.
import { CniError, ErrorCode } from '../cni';

export const TABLE_BASE = 100;
export const MAX_NIC_NUMBER = 152;
export const MAIN_TABLE = 254;

function splitName(name: string): { stem: string; n: number } | undefined {
  const m = /^(.*?)(\d+)$/.exec(name);
  if (!m || m[2] === undefined || m[2].length > 6) return undefined;
  return { stem: m[1] ?? '', n: Number(m[2]) };
}

/** The table of interface `name`; `key` names where the name came from, for the error. */
export function nicTable(name: string, key = 'CNI_IFNAME'): number {
  const s = splitName(name);
  if (!s || s.n > MAX_NIC_NUMBER) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'interface name has no route table',
      `${key} ${JSON.stringify(name)}: a NIC that gets its own route table must be named <prefix><N> with 0 <= N <= ${MAX_NIC_NUMBER} (table = ${TABLE_BASE} + N, e.g. net1 → 101)`);
  }
  return TABLE_BASE + s.n;
}

/** Natural order of NIC names: the stem as text, then the trailing number as a number (eth0 < net1 < net9 < net10). */
export function compareNicNames(a: string, b: string): number {
  const sa = splitName(a);
  const sb = splitName(b);
  const stemA = sa ? sa.stem : a;
  const stemB = sb ? sb.stem : b;
  if (stemA !== stemB) return stemA < stemB ? -1 : 1;
  if (sa && sb) return sa.n - sb.n;
  if (sa) return 1; // "net" before "net1"
  if (sb) return -1;
  return 0;
}

/** Pod rule priorities: `to <hijacked subnet>` rules first, then `from <NIC IP>` rules; both before main (32766). */
export const TO_RULE_PRIORITY = 1000;
export const FROM_RULE_PRIORITY = 1010;
