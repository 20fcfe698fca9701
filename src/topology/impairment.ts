// Link impairments (ours; upstream ignores them): what a frame leaving one end of a link suffers,
// in netem's terms and units, so that a network engineer writes what they would write for tc:
//   impairment: { delay: 20ms, jitter: 5ms, loss: 1%, rate: 100mbit, corrupt: 0.1%, duplicate: 1%, reorder: 25% }
// Each half of a link impairs its own egress (as netem on an interface does); both halves, both
// directions. Applied by the grpc-wire dataplane (src/wire/impair.ts): an impaired link is a wire.
import { TopologyError } from './errors';

/** Parsed: times in milliseconds, rates in bits per second, probabilities as percentages. */
export interface Impairment {
  delayMs?: number;
  jitterMs?: number;
  lossPct?: number;
  rateBps?: number;
  corruptPct?: number;
  duplicatePct?: number;
  /** With a delay: this share of frames is sent at once, jumping the queue (netem's reorder). */
  reorderPct?: number;
}

/** The keys as written in a Topology link (and on meshnetctl's command line, as --KEY). */
export const IMPAIRMENT_KEYS = ['delay', 'jitter', 'loss', 'rate', 'corrupt', 'duplicate', 'reorder'] as const;
export type ImpairmentKey = typeof IMPAIRMENT_KEYS[number];

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };
const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, bps: 8, kbps: 8e3, mbps: 8e6, gbps: 8e9 };

/** `20ms`, `1.5s`, `500us` → milliseconds. */
export function parseDuration(v: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s)$/.exec(v.trim());
  if (!m) throw new TopologyError(field, `${JSON.stringify(v)} is not a duration such as 20ms, 1.5s or 500us`);
  const ms = Number(m[1]) * TIME_UNITS[m[2]!]!;
  if (ms > 60_000) throw new TopologyError(field, `${v} is over 60s`);
  return ms;
}

/** `1%`, `0.01%` → percent. */
export function parsePercent(v: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(v.trim());
  if (!m || Number(m[1]) > 100) throw new TopologyError(field, `${JSON.stringify(v)} is not a percentage such as 1% or 0.1% (0% to 100%)`);
  return Number(m[1]);
}

/** `100mbit`, `1gbit`, `64kbit`, `10mbps` (bytes, as tc) → bits per second. */
export function parseRate(v: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/.exec(v.trim().toLowerCase());
  if (!m) throw new TopologyError(field, `${JSON.stringify(v)} is not a rate such as 100mbit, 1gbit or 64kbit`);
  const bps = Number(m[1]) * RATE_UNITS[m[2]!]!;
  if (bps < 8000) throw new TopologyError(field, `${v} is below 8kbit`);
  return bps;
}

/** A link's `impairment` object; `path` names it in errors. Undefined when empty. */
export function parseImpairment(v: unknown, path: string): Impairment | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new TopologyError(path, 'must be an object such as {delay: 20ms, loss: 1%}');
  const o = v as Record<string, unknown>;
  const out: Impairment = {};
  for (const [k, raw] of Object.entries(o)) {
    const field = `${path}.${k}`;
    if (!(IMPAIRMENT_KEYS as readonly string[]).includes(k)) throw new TopologyError(field, `is not an impairment (${IMPAIRMENT_KEYS.join(', ')})`);
    if (typeof raw !== 'string') throw new TopologyError(field, `must be a string with its unit, got ${JSON.stringify(raw)}`);
    setKey(out, k as ImpairmentKey, raw, field);
  }
  if (out.jitterMs && !out.delayMs) throw new TopologyError(`${path}.jitter`, 'needs a delay to vary');
  if (out.reorderPct && !out.delayMs) throw new TopologyError(`${path}.reorder`, 'needs a delay (reordered frames jump it)');
  return Object.keys(out).length ? out : undefined;
}

/** Sets one key of `out` from its written form. */
export function setKey(out: Impairment, k: ImpairmentKey, raw: string, field: string): void {
  if (k === 'delay') out.delayMs = parseDuration(raw, field);
  else if (k === 'jitter') out.jitterMs = parseDuration(raw, field);
  else if (k === 'rate') out.rateBps = parseRate(raw, field);
  else {
    const pct = parsePercent(raw, field);
    if (k === 'loss') out.lossPct = pct;
    else if (k === 'corrupt') out.corruptPct = pct;
    else if (k === 'duplicate') out.duplicatePct = pct;
    else out.reorderPct = pct;
  }
}

/** The written form of a parsed impairment (what a Topology stores and `lab impair --show` prints). */
export function formatImpairment(i: Impairment): Record<ImpairmentKey, string> | Record<string, never> {
  const out: Partial<Record<ImpairmentKey, string>> = {};
  const num = (n: number) => String(Number(n.toFixed(6)));
  if (i.delayMs !== undefined) out.delay = `${num(i.delayMs)}ms`;
  if (i.jitterMs !== undefined) out.jitter = `${num(i.jitterMs)}ms`;
  if (i.lossPct !== undefined) out.loss = `${num(i.lossPct)}%`;
  if (i.rateBps !== undefined) out.rate = i.rateBps % 1e6 === 0 ? `${i.rateBps / 1e6}mbit` : `${num(i.rateBps / 1e3)}kbit`;
  if (i.corruptPct !== undefined) out.corrupt = `${num(i.corruptPct)}%`;
  if (i.duplicatePct !== undefined) out.duplicate = `${num(i.duplicatePct)}%`;
  if (i.reorderPct !== undefined) out.reorder = `${num(i.reorderPct)}%`;
  return out as Record<ImpairmentKey, string>;
}
