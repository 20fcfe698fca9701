// What build of the project this is: scripts/build.mjs stamps the package version and the git
// commit into every bundle (esbuild `define`); run from source (tests, tsx) it says "dev".
declare const MESHNET_BUILD: { version: string; commit: string } | undefined;

export interface BuildInfo {
  version: string;
  commit: string;
  /** The Node.js that runs it. */
  node: string;
}

export function buildInfo(): BuildInfo {
  const stamped = typeof MESHNET_BUILD !== 'undefined' ? MESHNET_BUILD : undefined;
  return { version: stamped?.version ?? 'dev', commit: stamped?.commit ?? 'dev', node: process.version };
}

/** The line `--version` prints: `meshnetd 0.1.0 (commit 1a2b3c4, node v20.x)`. */
export function versionLine(program: string): string {
  const b = buildInfo();
  return `${program} ${b.version} (commit ${b.commit}, node ${b.node})`;
}
