// Label and field selectors as kube-apiserver parses them. Custom resources support only
// metadata.name and metadata.namespace as field selectors (no selectableFields in our CRDs);
// anything else is refused with 400, which is where clients that filter on spec fields break.

export type Requirement =
  | { key: string; op: '=' | '!='; values: [string] }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!' };

export class SelectorError extends Error {}

/** Splits at commas that are not inside parentheses (set-based values hold commas). */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) { out.push(cur); cur = ''; } else cur += c;
  }
  if (cur.trim() !== '') out.push(cur);
  return out.map((x) => x.trim());
}

const KEY = /^([a-z0-9A-Z.\-_/]+)$/;

export function parseLabelSelector(s: string | null | undefined): Requirement[] {
  if (!s) return [];
  return splitTop(s).map((term): Requirement => {
    let m = /^([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (m) return { key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()).filter(Boolean) };
    m = /^!\s*([^\s!=()]+)$/.exec(term);
    if (m) return { key: m[1]!, op: '!' };
    m = /^([^\s!=()]+)\s*(==|=|!=)\s*([^\s,()]*)$/.exec(term);
    if (m) return { key: m[1]!, op: m[2] === '!=' ? '!=' : '=', values: [m[3]!] };
    if (KEY.test(term)) return { key: term, op: 'exists' };
    throw new SelectorError(`unable to parse requirement: ${JSON.stringify(term)}`);
  });
}

export function matchesLabels(reqs: Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case '=': return has && l[r.key] === r.values[0];
      case '!=': return !has || l[r.key] !== r.values[0];
      case 'in': return has && r.values.includes(l[r.key]!);
      case 'notin': return !has || !r.values.includes(l[r.key]!);
      case 'exists': return has;
      case '!': return !has;
    }
  });
}

export interface FieldRequirement { field: string; op: '=' | '!='; value: string }

/** `allowed`: field labels the resource supports. */
export function parseFieldSelector(s: string | null | undefined, allowed: string[]): FieldRequirement[] {
  if (!s) return [];
  return splitTop(s).map((term) => {
    const m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new SelectorError(`invalid selector: '${s}'; can't understand '${term}'`);
    const field = m[1]!;
    if (!allowed.includes(field)) throw new SelectorError(`field label not supported: ${field}`);
    return { field, op: m[2] === '!=' ? '!=' : '=', value: m[3]! };
  });
}

export function matchesFields(reqs: FieldRequirement[], fields: Record<string, string>): boolean {
  return reqs.every((r) => (r.op === '=' ? fields[r.field] === r.value : fields[r.field] !== r.value));
}
