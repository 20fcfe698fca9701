// Mounts a process tree left under a directory (a container runtime's sandbox /dev/shm, rootfs
// overlays): found in /proc/self/mountinfo and detached, deepest first, so the directory can go.
import { readFileSync } from 'node:fs';
import * as libc from './libc';

/** mountinfo escapes space, tab, newline and backslash in paths as \ooo octal. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const root = dir.replace(/\/+$/, '');
  const points = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => unescapeMountPath(l.split(' ')[4] ?? ''))
    .filter((p) => p === root || p.startsWith(`${root}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Detaches every mount at or under `dir` (MNT_DETACH: busy ones go once unused); returns how many. */
export function unmountUnder(dir: string): number {
  let n = 0;
  for (const p of mountsUnder(dir)) if (libc.umount2(p, libc.MNT_DETACH) === 0) n++;
  return n;
}
