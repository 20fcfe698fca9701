// Choosing and editing a node's CNI configuration as a runtime reads it: files in the directory
// sorted by name, the first `.conflist`, `.conf` or `.json` that parses and has at least one
// plugin wins (libcni's ConfFiles + ConfListFromConf). `.conf`/`.json` hold one plugin's config
// and are read as a list of one. Shared by every installer that chains a plugin into the node's
// config (meshnetd's, kmesh-installer); entries are found by their plugin `type`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { MeshnetError } from '../errors';

export const CNI_EXTENSIONS = ['.conflist', '.conf', '.json'] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface Candidate {
  /** Absolute path of the file the runtime would load. */
  path: string;
  /** The file as read. */
  bytes: Buffer;
  mode: number;
  /** The configuration as a list (converted from a single config when the file is .conf/.json). */
  list: Obj;
  /** True when the file is a `.conf`/`.json` single-plugin config. */
  single: boolean;
}

/** A config file that could not be parsed and was modified in the last few seconds: a writer may be mid-write. */
export class ConfInFlux extends MeshnetError {
  readonly code = 'ConfInFlux';
}

const IN_FLUX_MS = 3000;

/** Returns the parsed list, or a reason it is not a usable config. */
export function parseCandidate(name: string, bytes: Buffer): { list: Obj; single: boolean } | string {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  if (!isObj(v)) return 'not a JSON object';
  if (extname(name) === '.conflist') {
    const plugins = v['plugins'];
    if (!Array.isArray(plugins) || plugins.length === 0) return 'no plugins';
    if (!plugins.every((p) => isObj(p) && typeof p['type'] === 'string' && p['type'] !== '')) return 'a plugin has no type';
    return { list: v, single: false };
  }
  if (typeof v['type'] !== 'string' || v['type'] === '') return 'no type';
  const list: Obj = { cniVersion: v['cniVersion'], name: v['name'], plugins: [v] };
  return { list, single: true };
}

export interface ChooseOptions {
  /** A file name in the directory that wins (when it exists and parses). */
  configured?: string;
  /** File names never chosen (an installer's own derived file). */
  skip?: (name: string) => boolean;
}

/**
 * The config file the runtime would use. Throws ConfInFlux when a file sorting before the winner
 * does not parse but was written moments ago (the caller retries shortly), so a half-written
 * primary config never makes us pick the wrong file.
 */
export function chooseConfFile(dir: string, opts: ChooseOptions | string = {}): Candidate | undefined {
  const o: ChooseOptions = typeof opts === 'string' ? { configured: opts } : opts;
  const names = o.configured !== undefined
    ? [o.configured]
    : readdirSync(dir).filter((n) => (CNI_EXTENSIONS as readonly string[]).includes(extname(n)) && !o.skip?.(n)).sort();
  for (const name of names) {
    const path = join(dir, name);
    let bytes: Buffer;
    let st;
    try {
      st = statSync(path);
      if (!st.isFile()) continue;
      bytes = readFileSync(path);
    } catch {
      continue; // vanished between readdir and read
    }
    const parsed = parseCandidate(name, bytes);
    if (typeof parsed === 'string') {
      // Only text that is not (yet) JSON can be a write in progress; a complete but unusable file is skipped.
      if (parsed.startsWith('not JSON') && Date.now() - st.mtimeMs < IN_FLUX_MS) throw new ConfInFlux(`${path}: ${parsed} (written ${Math.round(Date.now() - st.mtimeMs)} ms ago; waiting for its writer)`);
      continue;
    }
    return { path, bytes, mode: st.mode & 0o7777, ...parsed };
  }
  return undefined;
}

export function pluginsOf(list: Obj): Obj[] {
  const p = list['plugins'];
  return Array.isArray(p) ? p.filter(isObj) : [];
}

/** Index of the first plugin of `type` in the list, -1 when absent. */
export function entryIndex(list: Obj, type: string): number {
  return pluginsOf(list).findIndex((p) => p['type'] === type);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (isObj(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  return v;
}

const typeOf = (entry: Obj): string => {
  if (typeof entry['type'] !== 'string' || !entry['type']) throw new Error('a plugin entry needs a type');
  return entry['type'];
};

/** True when the list already holds exactly `entry` (wherever it is), found by its type. */
export function hasEntry(list: Obj, entry: Obj): boolean {
  const i = entryIndex(list, typeOf(entry));
  return i >= 0 && sameJson(pluginsOf(list)[i], entry);
}

/** A copy of `list` with `entry` replacing the existing entry of its type in place, or appended. */
export function withEntry(list: Obj, entry: Obj): Obj {
  const type = typeOf(entry);
  const plugins = [...(list['plugins'] as unknown[])];
  const i = plugins.findIndex((p) => isObj(p) && p['type'] === type);
  if (i >= 0) plugins[i] = entry;
  else plugins.push(entry);
  return { ...list, plugins };
}

/** A copy of `list` without entries of `type`. */
export function withoutEntry(list: Obj, type: string): Obj {
  return { ...list, plugins: (list['plugins'] as unknown[]).filter((p) => !(isObj(p) && p['type'] === type)) };
}

export function serialize(list: Obj): string {
  const text = `${JSON.stringify(list, null, 2)}\n`;
  // The guard against kmesh #150: whatever we are about to write must be a usable conflist.
  const check = parseCandidate('x.conflist', Buffer.from(text));
  if (typeof check === 'string') throw new Error(`refusing to write an unusable CNI config (${check})`);
  return text;
}
