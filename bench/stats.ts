/** Percentile by nearest rank over a copy (the input stays in run order for the JSON). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank]!;
}

export interface Summary {
  runs: number;
  median: number;
  p90: number;
  min: number;
  max: number;
}

export function summarize(xs: readonly number[]): Summary {
  return {
    runs: xs.length,
    median: percentile(xs, 50),
    p90: percentile(xs, 90),
    min: Math.min(...xs),
    max: Math.max(...xs),
  };
}

export interface Target {
  name: string;
  measured: number;
  goal: number;
  /** 'max': measured must be <= goal; 'min': >= goal. */
  kind: 'max' | 'min';
  unit: string;
  pass: boolean;
  /** For a target of several conditions: the ones that failed (printed after MISS). */
  failed?: string[];
}

export function target(name: string, measured: number, goal: number, kind: 'max' | 'min', unit: string): Target {
  return { name, measured, goal, kind, unit, pass: kind === 'max' ? measured <= goal : measured >= goal };
}

export function targetLine(t: Target): string {
  const fmt = (v: number) => `${v.toFixed(2)}${t.unit}`;
  return `TARGET ${t.name}: ${fmt(t.measured)} (goal ${t.kind === 'max' ? '<=' : '>='} ${fmt(t.goal)}) ${t.pass ? 'PASS' : 'MISS'}${t.failed?.length ? ` (${t.failed.join('; ')})` : ''}`;
}

/**
 * A target whose figure must meet its goal and whose other `conditions` must hold too (each
 * named as it is to be printed when it fails): a MISS says which failed, never "Infinity".
 */
export function targetWith(name: string, measured: number, goal: number, kind: 'max' | 'min', unit: string, conditions: Array<[string, boolean]>): Target {
  const t = target(name, measured, goal, kind, unit);
  const failed = [...(t.pass ? [] : [`${measured.toFixed(2)}${unit} ${kind === 'max' ? '>' : '<'} ${goal.toFixed(2)}${unit}`]), ...conditions.filter(([, ok]) => !ok).map(([what]) => what)];
  return { ...t, pass: failed.length === 0, ...(failed.length ? { failed } : {}) };
}
