// Bundles every executable into dist/: one self-contained file each, runnable from any directory.
// CNI plugins go to dist/cni/ under their plugin type name (no extension), because a runtime
// finds a plugin by exec'ing CNI_PATH/<type>. Output is CommonJS (dist/package.json says so) so
// extensionless files load without a loader flag. koffi stays external: it ships a native addon
// that node resolves from ../node_modules, which holds for dist/ and dist/cni/ alike.
import { build } from 'esbuild';
import { mkdirSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'cni'), { recursive: true });
writeFileSync(join(dist, 'package.json'), '{ "type": "commonjs" }\n');

const entries = [
  { src: 'src/bin/meshnet.ts', out: 'cni/meshnet' },
  { src: 'src/bin/meshnetctl.ts', out: 'meshnetctl' },
  { src: 'bench/main.ts', out: 'bench.cjs' },
];

await Promise.all(entries.map(async ({ src, out }) => {
  const outfile = join(dist, out);
  await build({
    entryPoints: [join(root, src)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['koffi'],
    banner: { js: '#!/usr/bin/env node' },
    sourcemap: false,
    minify: false,
    legalComments: 'none',
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
}));
console.log(`built ${entries.length} executables into dist/`);
