// Atomic file replacement: write a temp file in the same directory, fsync, chmod, rename. A
// reader (a container runtime loading CNI configs) sees the old file or the new one, never an
// empty or half-written one (kmesh issue #150 overwrote the primary conflist with an empty file).
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';

export function atomicWrite(path: string, data: string | Buffer, mode: number): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  // A name without a CNI extension and starting with "." so no runtime ever loads the temp file.
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    chmodSync(tmp, mode); // openSync's mode is filtered by the umask
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Hex SHA-256 of a file's bytes or a text (the installers compare what they wrote by it). */
export const sha256hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/**
 * Copies the executable `src` to `dest` (atomically, mode 0755) unless `dest` already holds the
 * same bytes; true when it wrote (the installers put their plugin binary in the CNI bin dir so).
 */
export function installExecutable(src: string, dest: string): boolean {
  const bytes = readFileSync(src);
  if (existsSync(dest) && sha256hex(readFileSync(dest)) === sha256hex(bytes)) return false;
  atomicWrite(dest, bytes, 0o755);
  return true;
}
