// Atomic file replacement: write a temp file in the same directory, fsync, chmod, rename. A
// reader (a container runtime loading CNI configs) sees the old file or the new one, never an
// empty or half-written one (kmesh issue #150 overwrote the primary conflist with an empty file).
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

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
