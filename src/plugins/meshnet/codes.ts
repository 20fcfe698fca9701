// meshnet's plugin-specific CNI error codes (the spec reserves 100+ for plugins). Stable: users
// and scripts match on them; docs/errors.md lists them.
export const MeshnetCode = {
  /** The store could not be read or written, or holds a malformed Topology. */
  Store: 100,
  /** A link could not be plumbed in the kernel. */
  Plumbing: 101,
  /** CHECK found a link missing or different from what ADD makes. */
  CheckFailed: 102,
} as const;
