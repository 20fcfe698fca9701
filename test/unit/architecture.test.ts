// Architecture rules from DESIGN.md, checked on the source so a violation fails the suite:
// only the kernel layer touches koffi, only netns.ts calls setns, and nothing on the plugin or
// daemon path spawns processes (no `ip` exec: rtnetlink is in-process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
