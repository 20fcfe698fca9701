// meshnetd's Prometheus metrics, in the text exposition format (version 0.0.4), following the
// Prometheus naming conventions: counters end in `_total`, durations are seconds, sizes bytes,
// every series has help text saying what it counts, and no label takes unboundedly many values
// (no netns paths or container ids: pods, interfaces and peer nodes are bounded by the topology).
import { readdirSync } from 'node:fs';

type Labels = Record<string, string>;
type Row = [Labels, number];

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const helpEsc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(labels: Labels): string {
  const e = Object.entries(labels);
  return e.length ? `{${e.map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}` : '';
}

/** Prometheus renders floats its own way; integers stay integers, +Inf is spelled out. */
function num(v: number): string {
  return v === Infinity ? '+Inf' : Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(15)));
}

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  rows(): string[];
}

/** A series' key and its labels, restricted to (and complete in) the family's label names. */
function seriesOf(labelNames: readonly string[], labels: Labels): { key: string; labels: Labels } {
  const values = labelNames.map((n) => labels[n] ?? '');
  return { key: values.join('\0'), labels: Object.fromEntries(labelNames.map((n, i) => [n, values[i]!])) };
}

/** A counter with a fixed set of label names; one series per label combination seen. */
export class Counter {
  private readonly values = new Map<string, Row>();
  constructor(private readonly labelNames: readonly string[]) {}

  inc(labels: Labels = {}, by = 1): void {
    const s = seriesOf(this.labelNames, labels);
    const row = this.values.get(s.key);
    if (row) row[1] += by;
    else this.values.set(s.key, [s.labels, by]);
  }

  rows(): Row[] {
    return [...this.values.values()];
  }
}

/** Default buckets for CNI calls: a veth ADD takes milliseconds, a cross-node ADD waits on peers. */
export const CNI_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(private readonly labelNames: readonly string[], readonly buckets: readonly number[]) {}

  observe(labels: Labels, value: number): void {
    const { key, labels: l } = seriesOf(this.labelNames, labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: l, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  lines(name: string, common: Labels): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${name}_bucket${labelText({ ...common, ...s.labels, le: num(b) })} ${s.counts[i]}`));
      out.push(`${name}_bucket${labelText({ ...common, ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${name}_sum${labelText({ ...common, ...s.labels })} ${num(s.sum)}`);
      out.push(`${name}_count${labelText({ ...common, ...s.labels })} ${s.count}`);
    }
    return out;
  }
}

/**
 * The metric families of one daemon. Labels given here (the node) go on every series, so a
 * Prometheus scraping every node's daemon tells them apart even without target relabelling.
 */
export class MetricsRegistry {
  private readonly families: Family[] = [];
  constructor(private readonly common: Labels = {}) {}

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const c = new Counter(labelNames);
    this.collect(name, help, 'counter', () => c.rows());
    return c;
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    const h = new Histogram(labelNames, buckets);
    this.families.push({ name, help, type: 'histogram', rows: () => h.lines(name, this.common) });
    return h;
  }

  /** A family whose values are read when scraped (gauges of state, counters kept elsewhere). */
  collect(name: string, help: string, type: 'counter' | 'gauge', rows: () => Row[]): void {
    if (type === 'counter' && !name.endsWith('_total')) throw new Error(`counter ${name} must end in _total`);
    this.families.push({ name, help, type, rows: () => rows().map(([l, v]) => `${name}${labelText({ ...this.common, ...l })} ${num(v)}`) });
  }

  text(): string {
    const out: string[] = [];
    for (const f of this.families) out.push(`# HELP ${f.name} ${helpEsc(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.rows());
    return `${out.join('\n')}\n`;
  }
}

/** The process_* series every Prometheus client exports (memory, CPU, start time, open fds). */
export function addProcessMetrics(reg: MetricsRegistry): void {
  const started = Math.round(Date.now() / 1000 - process.uptime());
  reg.collect('process_resident_memory_bytes', 'Resident memory of meshnetd, in bytes.', 'gauge', () => [[{}, process.memoryUsage.rss()]]);
  reg.collect('process_cpu_seconds_total', 'User and system CPU time meshnetd has used, in seconds.', 'counter', () => {
    const u = process.cpuUsage();
    return [[{}, (u.user + u.system) / 1e6]];
  });
  reg.collect('process_start_time_seconds', 'When meshnetd started, in seconds since the Unix epoch.', 'gauge', () => [[{}, started]]);
  reg.collect('process_open_fds', 'File descriptors meshnetd has open.', 'gauge', () => {
    try {
      return [[{}, readdirSync('/proc/self/fd').length]];
    } catch {
      return [];
    }
  });
}
