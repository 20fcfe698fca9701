// Where a node's meshnetd listens for the exec shim (and serves its admin HTTP): one unix socket
// per daemon-backed plugin and per network namespace, keyed by the netns inode, so the shim finds
// the daemon of the netns it runs in with no configuration (src/shim/cni-shim.c computes the same
// path; both must change together). Shared by the daemon and by tools that reach it (the lab).
import { statSync } from 'node:fs';
import { join } from 'node:path';

export const SOCKET_DIR = '/run/meshnet';

/** The socket of the daemon serving `plugin` for the netns at `netnsPath` (default: ours). */
export function cniSocketPath(plugin: string, netnsPath = '/proc/self/ns/net', dir = SOCKET_DIR): string {
  return join(dir, `${plugin}-${statSync(netnsPath).ino}.sock`);
}

/**
 * Where the exec shim leaves a DEL for the daemon of `socketPath` when it does not answer
 * (src/shim/cni-shim.c: `<plugin>-<inode>.sock` → `<plugin>-<inode>.deferred`).
 */
export function deferredDir(socketPath: string): string {
  return socketPath.replace(/\.sock$/, '.deferred');
}
