// The one place the latest target figures live: a table in docs/performance.md between two
// markers, written by the bench itself. A run replaces the rows of the targets it measured (and
// says when and with which command), and keeps the others as they were.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Target } from './stats';

const BEGIN = '<!-- targets: written by the bench (bench/perf-doc.ts); do not edit by hand -->';
const END = '<!-- /targets -->';
const HEADER = ['| target | measured | goal | | measured on | with |', '|---|---|---|---|---|---|'];

const fmt = (t: Target, v: number) => `${Number.isFinite(v) ? v.toFixed(2) : String(v)}${t.unit}`;

function row(t: Target, date: string, command: string): string {
  return `| ${t.name} | ${fmt(t, t.measured)} | ${t.kind === 'max' ? '<=' : '>='} ${fmt(t, t.goal)} | ${t.pass ? 'PASS' : `**MISS**${t.failed?.length ? ` (${t.failed.join('; ')})` : ''}`} | ${date} | \`${command}\` |`;
}

/** Merges `targets` into the table of `file` (rows keyed by target name, kept in the order first written). */
export function updatePerformanceDoc(file: string, targets: Target[], date: string, command: string): void {
  const text = readFileSync(file, 'utf8');
  const b = text.indexOf(BEGIN);
  const e = text.indexOf(END);
  if (b < 0 || e < b) throw new Error(`${file} has no targets table (the markers ${BEGIN} and ${END})`);
  const rows = text.slice(b + BEGIN.length, e).split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| target |'));
  const byName = new Map(rows.map((r) => [r.split(' | ')[0]!.slice(2), r]));
  for (const t of targets) byName.set(t.name, row(t, date, command));
  writeFileSync(file, `${text.slice(0, b + BEGIN.length)}\n${[...HEADER, ...byName.values()].join('\n')}\n${text.slice(e)}`);
}
