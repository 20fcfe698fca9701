// Names the veth plugin gives its links, and the marker that tells which attachment made veth0.
/** The pod end of the pod ↔ host veth pair (one per pod, shared by all its NICs). */
export const POD_VETH = 'veth0';

/** The host end: "veth" + the first 11 characters of the container id (15 bytes, the kernel limit). */
export function hostVethName(containerId: string): string {
  return `veth${containerId.slice(0, 11)}`;
}

// Stored as veth0's alias: the NIC whose ADD created veth0 routes through the main table; any
// other NIC is a later one with its own table. Stateless across ADD/CHECK/DEL.
const ALIAS_PREFIX = 'meta-plugins/veth primary=';

export function primaryAlias(ifname: string): string {
  return `${ALIAS_PREFIX}${ifname}`;
}

/** The primary NIC recorded in veth0's alias, or undefined when the alias is not ours. */
export function primaryFromAlias(alias: string | undefined): string | undefined {
  return alias !== undefined && alias.startsWith(ALIAS_PREFIX) ? alias.slice(ALIAS_PREFIX.length) : undefined;
}
