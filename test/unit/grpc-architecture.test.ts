// The gRPC stack (connect, protobuf; ~1 MB of JavaScript) is for meshnetd. CNI plugins exec once
// per pod and must not load it at start-up: nothing a plugin entry imports statically may reach
// src/grpc or the gRPC packages. (A dynamic `import()` on first use is fine.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

const PLUGIN_ENTRIES = ['src/bin/meshnet.ts', 'src/bin/veth.ts', 'src/bin/router.ts'];
const GRPC_PACKAGES = /^@(connectrpc|bufbuild|grpc)\//;

/** Static, value-level import/export specifiers of a TypeScript source (not `import type`, not `import()`). */
function staticImports(text: string): string[] {
  const out: string[] = [];
  const re = /^\s*(?:import|export)\s+(type\s+)?(?:[\w*\s{},]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
  const multiline = /^\s*(?:import|export)\s+(type\s+)?\{[^}]*\}\s*from\s+['"]([^'"]+)['"]/gm;
  for (const r of [re, multiline]) for (const m of text.matchAll(r)) if (!m[1]) out.push(m[2]!);
  return [...new Set(out)];
}

function resolve(from: string, spec: string): string | undefined {
  const base = normalize(join(dirname(from), spec));
  for (const p of [`${base}.ts`, join(base, 'index.ts'), base]) if (p.endsWith('.ts') && existsSync(p)) return p;
  return undefined;
}

function reach(entry: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const todo = [entry];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const spec of staticImports(readFileSync(f, 'utf8'))) {
      if (spec.startsWith('.')) {
        const r = resolve(f, spec);
        if (r !== undefined) todo.push(r);
      } else if (!packages.has(spec)) packages.set(spec, f);
    }
  }
  return { files, packages };
}

test('the import scanner sees static imports and ignores type-only and dynamic ones', () => {
  const src = [
    "import { a } from './a';", "import type { B } from './b';", "export { c } from './c';",
    "import {\n  d,\n  e,\n} from './de';", "const g = await import('./g');", "import './side';",
  ].join('\n');
  assert.deepEqual(staticImports(src).sort(), ['./a', './c', './de', './side']);
});

for (const entry of PLUGIN_ENTRIES) {
  test(`${entry} does not load src/grpc or a gRPC package at start-up`, () => {
    const { files, packages } = reach(entry);
    assert.ok(files.size > 1, `import graph of ${entry} looks empty`);
    assert.deepEqual([...files].filter((f) => f.startsWith('src/grpc/')), []);
    assert.deepEqual([...packages].filter(([p]) => GRPC_PACKAGES.test(p)).map(([p, by]) => `${p} (imported by ${by})`), []);
  });
}
