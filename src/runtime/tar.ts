// A minimal POSIX ustar writer: enough for the image layers and OCI archives the lab makes itself
// (a handful of files, names under 100 bytes). Deterministic: owner 0:0, mtime 0, so the same
// files give the same bytes and the same digest.

export interface TarEntry {
  /** Path inside the archive, without a leading slash; a trailing slash marks a directory. */
  name: string;
  /** File contents; absent for a directory. */
  data?: Buffer;
  /** Permission bits (default 0644 for files, 0755 for directories). */
  mode?: number;
  /** A symbolic link to this target (no data). */
  link?: string;
}

export const BLOCK = 512;

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

/** The 512-byte ustar header of `e` with `size` bytes of data (a directory when `dir`). */
export function header(e: TarEntry, size: number, dir: boolean): Buffer {
  if (Buffer.byteLength(e.name) > 99) throw new Error(`tar: name ${JSON.stringify(e.name)} is over 99 bytes`);
  if (e.link !== undefined && Buffer.byteLength(e.link) > 99) throw new Error(`tar: link target ${JSON.stringify(e.link)} is over 99 bytes`);
  const h = Buffer.alloc(BLOCK);
  h.write(e.name, 0, 'utf8');
  h.write(octal(e.mode ?? (dir ? 0o755 : 0o644), 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime
  h.fill(' ', 148, 156); // checksum field counts as spaces while summing
  h.write(dir ? '5' : e.link !== undefined ? '2' : '0', 156, 'ascii');
  if (e.link !== undefined) h.write(e.link, 157, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** The archive of `entries`, in order. */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const dir = e.name.endsWith('/');
    const data = dir || e.link !== undefined ? Buffer.alloc(0) : e.data ?? Buffer.alloc(0);
    parts.push(header(e, data.length, dir), data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK)); // end of archive
  return Buffer.concat(parts);
}
