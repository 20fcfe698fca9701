// CNI spec versions this library speaks, oldest first. The order matters: versionAtLeast compares
// positions, so a new version must be appended at the end.
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** Versions whose results are the legacy `ip4`/`ip6` objects (the spec's types/020); chaining came with 0.3.0. */
export const LEGACY_VERSIONS = ['0.1.0', '0.2.0'] as const;

/** The versions a plugin that needs a chain's prevResult (0.3.0 and newer) accepts. */
export const CHAINED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

/** The newest version we implement; used for VERSION output and when no config version is known. */
export const LATEST_VERSION: CniVersion = '1.1.0';

export function isSupportedVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** True when `v` is `min` or newer. */
export function versionAtLeast(v: CniVersion, min: CniVersion): boolean {
  return SUPPORTED_VERSIONS.indexOf(v) >= SUPPORTED_VERSIONS.indexOf(min);
}

/** True for 0.1.0 and 0.2.0, whose results carry `ip4`/`ip6` instead of interfaces, ips and routes. */
export function isLegacyVersion(v: CniVersion): boolean {
  return (LEGACY_VERSIONS as readonly string[]).includes(v);
}
