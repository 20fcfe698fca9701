// Reads chosen members of a tar archive (gzip-compressed or not) as a stream: an image archive
// may be gigabytes (vendor router images), and only its small index (index.json, manifest.json)
// is wanted. ustar names with their prefix, GNU long names and pax path records are understood.
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

const BLOCK = 512;

/** Whether the file starts with gzip's magic bytes. */
export function isGzip(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

const cstr = (b: Buffer, at: number, len: number) => {
  const s = b.subarray(at, at + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString('utf8');
};

/**
 * The contents of the members whose name `want` accepts (names without a leading `./`), each at
 * most `maxBytes`. Throws when the file is not a tar archive.
 */
export async function readTarMembers(path: string, want: (name: string) => boolean, maxBytes = 4 << 20): Promise<Map<string, Buffer>> {
  const input: Readable = isGzip(path) ? createReadStream(path).pipe(createGunzip()) : createReadStream(path);
  const out = new Map<string, Buffer>();
  let buf: Buffer = Buffer.alloc(0);
  /** The member being read or skipped: bytes left of its data and padding. */
  let left = 0;
  let keep: { name: string; size: number; parts: Buffer[] } | undefined;
  let longName: string | undefined;
  let paxPath: string | undefined;
  let meta: { kind: 'L' | 'x'; size: number; parts: Buffer[] } | undefined;
  let headers = 0;
  for await (const chunk of input) {
    buf = buf.length ? Buffer.concat([buf, chunk as Buffer]) : chunk as Buffer;
    for (;;) {
      if (left > 0) {
        const n = Math.min(left, buf.length);
        const part = buf.subarray(0, n);
        const sink = meta ?? keep;
        if (sink) sink.parts.push(Buffer.from(part));
        left -= n;
        buf = buf.subarray(n);
        if (left > 0) break;
        if (meta) {
          const text = Buffer.concat(meta.parts).subarray(0, meta.size).toString('utf8');
          if (meta.kind === 'L') longName = text.replace(/\0.*$/s, '');
          else paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text)?.[1];
          meta = undefined;
        } else if (keep) {
          out.set(keep.name, Buffer.concat(keep.parts).subarray(0, keep.size));
          keep = undefined;
        }
        continue;
      }
      if (buf.length < BLOCK) break;
      const h = buf.subarray(0, BLOCK);
      buf = buf.subarray(BLOCK);
      if (h.every((b) => b === 0)) continue; // end-of-archive blocks
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
      if (Number.parseInt(cstr(h, 148, 8).trim(), 8) !== sum) {
        input.destroy();
        throw new Error(headers === 0 ? `${path} is not a tar archive (nor a gzip-compressed one)` : `${path}: a damaged tar header after ${headers} members`);
      }
      headers++;
      const size = Number.parseInt(cstr(h, 124, 12).trim() || '0', 8);
      const type = String.fromCharCode(h[156] || 0x30);
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (type === 'L' || type === 'x') {
        meta = { kind: type, size, parts: [] };
        left = padded;
        continue;
      }
      const prefix = cstr(h, 257, 6) === 'ustar' ? cstr(h, 345, 155) : '';
      const name = (paxPath ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100))).replace(/^\.\//, '');
      longName = undefined;
      paxPath = undefined;
      if ((type === '0' || type === '\0') && want(name)) {
        if (size > maxBytes) throw new Error(`${path}: ${name} is ${size} bytes, over the ${maxBytes} read`);
        keep = { name, size, parts: [] };
      }
      left = padded;
      if (left === 0 && keep) {
        out.set(keep.name, Buffer.alloc(0));
        keep = undefined;
      }
    }
  }
  if (headers === 0) throw new Error(`${path} is not a tar archive (nor a gzip-compressed one)`);
  return out;
}
