// What meshnetctl prints: lines on stdout (quietly dropped once the reader went away, as in
// `meshnetctl lab status | head`), JSON documents for --output json, and aligned tables.

/**
 * Set once the reader of stdout went away: the rest of the output is dropped, quietly, and the
 * command still finishes (a `lab up` piped into head must not stop half-way through making the lab).
 */
let stdoutGone = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  stdoutGone = true;
});

export function out(s = ''): void {
  if (stdoutGone) return;
  process.stdout.write(`${s}\n`);
}

export function outJson(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

/** Columns padded to their widest cell, two spaces apart, no trailing blanks. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
