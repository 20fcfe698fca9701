// Error codes of the veth and router plugins (the CNI spec leaves 100+ to plugins). Stable:
// scripts match on them; both plugin READMEs list them. Config errors use the spec's 7.
export const MetaCode = {
  /** A kernel step of ADD failed (the ADD was rolled back). */
  Plumbing: 100,
  /** CHECK found something ADD makes missing or different; details list every difference. */
  CheckFailed: 101,
  /** ip_conflict: another host already answers for one of the pod's addresses. */
  IpConflict: 102,
  /** The pod is not in the shape the plugin chains onto (no IP for CNI_IFNAME, no overlay veth ...). */
  BadChain: 103,
} as const;
