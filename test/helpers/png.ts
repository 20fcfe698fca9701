// Reads the pixels of a PNG (8-bit RGB or RGBA, not interlaced: what chromium's --screenshot
// writes), so a test can say what a picture shows rather than how large its file is.
import { inflateSync } from 'node:zlib';

export interface Picture {
  width: number;
  height: number;
  /** How many pixels have exactly this colour ('#rrggbb'). */
  count(hex: string): number;
  /** The smallest box holding every pixel of this colour, or undefined when there is none. */
  box(hex: string): { x: number; y: number; width: number; height: number } | undefined;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function readPng(file: Buffer): Picture {
  if (!file.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG file (signature)');
  let width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < file.length;) {
    const len = file.readUInt32BE(at);
    const type = file.toString('latin1', at + 4, at + 8);
    const data = file.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colourType, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      if (depth !== 8 || (colourType !== 2 && colourType !== 6) || interlace !== 0) {
        throw new Error(`unsupported PNG: bit depth ${depth}, colour type ${colourType}, interlace ${interlace}`);
      }
      channels = colourType === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = Buffer.alloc(height * stride);
  // Undo each row's filter (PNG spec, section 9): None, Sub, Up, Average, Paeth.
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = px.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? px.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? row[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`row ${y}: unknown PNG filter ${filter}`);
      row[i] = (src[i]! + pred) & 0xff;
    }
  }
  const pixels = function* (hex: string): Generator<[number, number]> {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    for (let i = 0; i < px.length; i += channels) {
      if (px[i] === r && px[i + 1] === g && px[i + 2] === b) yield [(i % stride) / channels, Math.floor(i / stride)];
    }
  };
  return {
    width, height,
    count(hex: string): number {
      let n = 0;
      for (const _ of pixels(hex)) n++;
      return n;
    },
    box(hex: string) {
      let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
      for (const [x, y] of pixels(hex)) {
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      }
      return x1 < 0 ? undefined : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
    },
  };
}
