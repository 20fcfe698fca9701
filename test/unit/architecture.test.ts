// Architecture rules, checked on the source so a violation fails the suite: only the kernel layer
// touches koffi, only netns.ts calls setns, nothing on the plugin or daemon path spawns processes
// (no `ip` exec: rtnetlink is in-process), each folder of src/ imports only the folders below it
// (shared code never imports a plugin), and the repository root holds no stray files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const files = sources('src').map((path) => ({ path, text: readFileSync(path, 'utf8') }));

test('only src/kernel imports koffi', () => {
  const offenders = files.filter((f) => !f.path.startsWith('src/kernel/') && /from ['"]koffi['"]/.test(f.text));
  assert.deepEqual(offenders.map((f) => f.path), []);
});

test('only src/kernel/netns.ts calls setns', () => {
  const offenders = files.filter((f) => f.path !== 'src/kernel/netns.ts' && f.path !== 'src/kernel/libc.ts' && /\bsetns\s*\(/.test(f.text));
  assert.deepEqual(offenders.map((f) => f.path), []);
});

test('the plugin and daemon path spawns no processes', () => {
  const onPath = files.filter((f) => /^src\/(kernel|plugins|daemon|store|topology|cni\/(?!invoke))/.test(f.path));
  const offenders = onPath.filter((f) => /from ['"](node:)?child_process['"]/.test(f.text));
  assert.deepEqual(offenders.map((f) => f.path), []);
});

test('no import cycles between top-level modules of src/', () => {
  const mod = (p: string) => p.split('/')[1]!;
  const edges = new Map<string, Set<string>>();
  for (const f of files) {
    for (const m of f.text.matchAll(/from ['"](\.\.?\/[^'"]+)['"]/g)) {
      const target = join(f.path, '..', m[1]!);
      if (!target.startsWith('src/')) continue;
      const [a, b] = [mod(f.path), mod(target)];
      if (a !== b) (edges.get(a) ?? edges.set(a, new Set()).get(a)!).add(b);
    }
  }
  const cycles: string[] = [];
  const visit = (n: string, stack: string[]) => {
    if (stack.includes(n)) { cycles.push([...stack.slice(stack.indexOf(n)), n].join(' -> ')); return; }
    for (const next of edges.get(n) ?? []) visit(next, [...stack, n]);
  };
  for (const n of edges.keys()) visit(n, []);
  assert.deepEqual([...new Set(cycles)], []);
});

test('no import cycles between files of src/, type imports included (a type moves to a module both can import)', () => {
  const known = new Set(files.map((f) => f.path));
  const resolve = (p: string) => [`${p}.ts`, `${p}/index.ts`].find((c) => known.has(c));
  const edges = new Map(files.map((f) => [f.path, importsOf(f).map(resolve).filter((t): t is string => t !== undefined)]));
  // Depth-first search with colours: a grey file met again closes a cycle.
  const colour = new Map<string, 'grey' | 'black'>();
  const cycles: string[] = [];
  const visit = (n: string, stack: string[]) => {
    colour.set(n, 'grey');
    for (const next of edges.get(n) ?? []) {
      if (colour.get(next) === 'grey') cycles.push([...stack.slice(stack.indexOf(next)), n, next].join(' -> '));
      else if (!colour.has(next)) visit(next, [...stack, n]);
    }
    colour.set(n, 'black');
  };
  for (const f of files) if (!colour.has(f.path)) visit(f.path, []);
  assert.deepEqual(cycles, []);
});

/**
 * Which top-level folders of src/ each folder may import (itself always). The layers, bottom up:
 * build, log, kernel, grpc, install (leaves), cni (its --version: build), cri (a runtime's CRI, over grpc), runtime (the lab's
 * node runtimes) → store → topology → plumbing (the meshnet core: planning and plumbing links) → wire → chained (what
 * the chained plugins share) → plugins → daemon → lab → cli → bin. Exceptions are per file and say why.
 */
const LAYERS: Record<string, string[]> = {
  errors: [],
  cni: ['build'],
  build: [],
  log: [],
  kernel: [],
  grpc: ['log'],
  install: ['log'],
  shim: [],
  store: ['kernel', 'log'],
  topology: ['cni', 'store'],
  plumbing: ['cni', 'kernel', 'grpc', 'store', 'topology', 'log'],
  wire: ['grpc', 'kernel', 'store', 'topology', 'plumbing', 'log'],
  chained: ['cni', 'kernel', 'log'],
  plugins: ['build', 'cni', 'kernel', 'store', 'topology', 'plumbing', 'chained', 'install', 'log'],
  cri: ['grpc'],
  runtime: ['cri', 'grpc', 'kernel'],
  daemon: ['build', 'cni', 'cri', 'kernel', 'grpc', 'install', 'store', 'topology', 'plumbing', 'wire', 'plugins', 'log'],
  lab: ['cni', 'cri', 'kernel', 'runtime', 'store', 'topology', 'plumbing', 'wire', 'grpc', 'log'],
  cli: ['build', 'lab', 'store', 'topology', 'kernel', 'log'],
  bin: [],
};
/** src/errors (the one error base) is below everything: every folder may import it. */
const ALLOWED: Record<string, string[]> = Object.fromEntries(Object.entries(LAYERS).map(([k, v]) => [k, k === 'errors' ? v : [...v, 'errors']]));

/** src/bin entries: each imports only the program it starts. */
const BIN_TARGETS: Record<string, string[]> = {
  'src/bin/meshnetd.ts': ['src/daemon/main'],
  'src/bin/meshnetctl.ts': ['src/cli/main'],
  'src/bin/meshnet.ts': ['src/cni', 'src/plugins/meshnet/', 'src/plumbing/'],
  'src/bin/veth.ts': ['src/cni', 'src/plugins/veth/'],
  'src/bin/router.ts': ['src/cni', 'src/plugins/router/'],
  'src/bin/kmesh-cni.ts': ['src/cni', 'src/plugins/kmesh/'],
  'src/bin/kmesh-installer.ts': ['src/plugins/kmesh/installer/'],
};

function importsOf(f: { path: string; text: string }): string[] {
  return [...f.text.matchAll(/(?:from|import)\s*\(?\s*['"](\.\.?\/[^'"]+)['"]/g)].map((m) => join(f.path, '..', m[1]!));
}

test('each folder of src/ imports only the folders below it; shared code never imports a plugin', () => {
  const offenders: string[] = [];
  for (const f of files) {
    const from = f.path.split('/')[1]!;
    if (from === 'bin' || f.path.split('/').length < 3) continue;
    for (const target of importsOf(f)) {
      if (!target.startsWith('src/')) continue;
      const to = target.split('/')[1]!;
      if (to === from) {
        // Plugins share code only through src/chained, never one plugin from another.
        const [pa, pb] = [f.path.split('/')[2], target.split('/')[2]];
        if (from === 'plugins' && pa !== pb) offenders.push(`${f.path} -> ${target}`);
        continue;
      }
      // The daemon serves the meshnet plugin's CNI calls: it may import that plugin's entry, nothing else of plugins/.
      if (from === 'daemon' && to === 'plugins' && target !== 'src/plugins/meshnet/plugin') { offenders.push(`${f.path} -> ${target}`); continue; }
      if (!(ALLOWED[from] ?? []).includes(to)) offenders.push(`${f.path} -> ${target}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('src/bin entries import only the program they start (the plugin entry no daemon module)', () => {
  const offenders: string[] = [];
  for (const f of files.filter((x) => x.path.startsWith('src/bin/'))) {
    const allowed = BIN_TARGETS[f.path];
    if (!allowed) { offenders.push(`${f.path}: no rule`); continue; }
    for (const target of importsOf(f)) if (!allowed.some((a) => target.startsWith(a))) offenders.push(`${f.path} -> ${target}`);
  }
  assert.deepEqual(offenders, []);
});

test('the repository root holds only the project\'s own files (no scratch files)', () => {
  const tracked = execFileSync('git', ['-c', 'safe.directory=*', 'ls-files'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const rootFiles = tracked.filter((p) => !p.includes('/'));
  const rootDirs = [...new Set(tracked.filter((p) => p.includes('/')).map((p) => p.split('/')[0]!))];
  assert.deepEqual(rootFiles.filter((n) => !['.dockerignore', '.gitignore', 'Dockerfile', 'README.md', 'buf.gen.yaml', 'buf.yaml', 'eslint.config.mjs',
    'package-lock.json', 'package.json', 'tsconfig.json'].includes(n)), []);
  assert.deepEqual(rootDirs.filter((d) => !['.ci', 'bench', 'deploy', 'docs', 'examples', 'proto', 'scripts', 'src', 'test'].includes(d)), []);
});

test('every error class of src/ has a code field (its own or inherited), so callers match on err.code', () => {
  const classes = new Map<string, { parent: string; body: string; path: string }>();
  for (const f of files) {
    for (const m of f.text.matchAll(/^(?:export )?(?:abstract )?class (\w+) extends (\w+)[^{]*\{([\s\S]*?)^\}/gm)) {
      classes.set(m[1]!, { parent: m[2]!, body: m[3]!, path: f.path });
    }
  }
  const isError = (name: string): boolean => name === 'Error' || (classes.has(name) && isError(classes.get(name)!.parent));
  const hasCode = (name: string): boolean => {
    const c = classes.get(name);
    if (!c) return false;
    return /\breadonly code\b|\bthis\.code = /.test(c.body) || hasCode(c.parent);
  };
  const errors = [...classes.keys()].filter((n) => isError(classes.get(n)!.parent));
  assert.ok(errors.length >= 15, `found ${errors.length} error classes: the scan itself works`);
  assert.deepEqual(errors.filter((n) => !hasCode(n)).map((n) => `${classes.get(n)!.path}: ${n}`), []);
});

test('every error class of src/ extends MeshnetError (src/errors), so its name is its class\'s; none sets a name by hand', () => {
  const offenders: string[] = [];
  for (const f of files) {
    for (const m of f.text.matchAll(/^(?:export )?(?:abstract )?class (\w+) extends Error\b/gm)) {
      if (f.path !== 'src/errors/index.ts') offenders.push(`${f.path}: ${m[1]} extends Error`);
    }
    if (f.path !== 'src/errors/index.ts' && /this\.name = |override (readonly )?name = /.test(f.text)) offenders.push(`${f.path}: sets name by hand`);
  }
  assert.deepEqual(offenders, []);
});
