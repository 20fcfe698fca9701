// Bundles every executable into dist/: one self-contained file each, runnable from any directory.
// CNI plugins go to dist/cni/ under their plugin type name (no extension), because a runtime
// finds a plugin by exec'ing CNI_PATH/<type>. Output is CommonJS (dist/package.json says so) so
// extensionless files load without a loader flag. koffi stays external: it ships a native addon
// that node resolves from ../node_modules, which holds for dist/ and dist/cni/ alike.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync, rmSync, chmodSync, copyFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'cni'), { recursive: true });
mkdirSync(join(dist, 'lib'), { recursive: true });
writeFileSync(join(dist, 'package.json'), '{ "type": "commonjs" }\n');

// The standalone plugin loads the Kubernetes store (and @kubernetes/client-node, 2.5 MB) from its
// own file, only for a kubernetes store: parsing it on every exec would cost ~35 ms.
const kubeStoreApart = {
  name: 'kube-store-apart',
  setup(b) {
    b.onResolve({ filter: /\/kube\/kube-store$/ }, () => ({ path: './kube-store.cjs', external: true }));
  },
};

/**
 * Node flags meshnetd runs with, carried by its shebang (the lab reads them from there; the
 * Dockerfile and the DaemonSet repeat them, and a test keeps all three equal). A young generation
 * of 2 MiB semi-spaces instead of 16: bursts of CNI calls and peer RPCs otherwise grow it to 32 MiB
 * of resident memory that nothing needs (bench daemon-rss); grpc-wire throughput is the same
 * (measured 0.38x of kernel VXLAN with and without).
 */
const MESHNETD_NODE_FLAGS = ['--max-semi-space-size=2'];

// Every bundle knows its version and commit (src/build: meshnetd's build-info metric, --version).
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
// MESHNET_COMMIT names the commit where there is no .git (the image build: the Dockerfile's build
// argument of that name); else git says.
const rev = process.env.MESHNET_COMMIT ? undefined : spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8' });
const commit = process.env.MESHNET_COMMIT ? process.env.MESHNET_COMMIT.slice(0, 12) : rev.status === 0 ? rev.stdout.trim() : 'unknown';
const BUILD = { version: pkg.version, commit };

const entries = [
  // The JavaScript build of each daemon-backed plugin; dist/cni/<type> is the exec shim.
  { src: 'src/bin/meshnet.ts', out: 'lib/meshnet-plugin.cjs', plugins: [kubeStoreApart] },
  { src: 'src/store/kube/kube-store.ts', out: 'lib/kube-store.cjs' },
  { src: 'src/bin/meshnetd.ts', out: 'meshnetd', nodeFlags: MESHNETD_NODE_FLAGS },
  { src: 'src/bin/meshnetctl.ts', out: 'meshnetctl' },
  // Chained meta plugins: plain bundles, no daemon behind them.
  { src: 'src/bin/veth.ts', out: 'cni/veth' },
  { src: 'src/bin/router.ts', out: 'cni/router' },
  { src: 'src/bin/kmesh-cni.ts', out: 'cni/kmesh-cni' },
  { src: 'src/bin/kmesh-installer.ts', out: 'kmesh-installer' },
  { src: 'bench/main.ts', out: 'bench.cjs' },
];

await Promise.all(entries.map(async ({ src, out, plugins = [], nodeFlags = [] }) => {
  const outfile = join(dist, out);
  await build({
    entryPoints: [join(root, src)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['koffi'],
    define: { MESHNET_BUILD: JSON.stringify(BUILD) },
    banner: { js: nodeFlags.length ? `#!/usr/bin/env -S node ${nodeFlags.join(' ')}` : '#!/usr/bin/env node' },
    sourcemap: false,
    minify: false,
    legalComments: 'none',
    // Error classes take their `name` from the class (src/errors): a bundle must not rename them.
    keepNames: true,
    logLevel: 'warning',
    plugins,
  });
  chmodSync(outfile, 0o755);
}));

// The exec shim in front of daemon-backed plugins (see src/shim/cni-shim.c for why). Without a
// C compiler the plugin's JavaScript build stands in for it: same behaviour, slower start.
// Linked statically: on a cluster node the runtime execs it on the host, whose C library may be
// older than the build machine's (a dynamically linked shim would fail with "GLIBC_2.34 not found").
const shimmed = ['meshnet'];
const ccArgs = (extra) => ['-O2', '-Wall', '-Wextra', '-Werror', ...extra, `-DNODE_BIN="${process.execPath}"`, `-DMESHNET_VERSION="${BUILD.version}"`, `-DMESHNET_COMMIT="${BUILD.commit}"`,
  '-o', join(dist, 'cni', 'meshnet-shim'), join(root, 'src/shim/cni-shim.c')];
let cc = spawnSync('cc', ccArgs(['-static']), { stdio: 'inherit' });
if (cc.status !== 0) {
  console.warn('warning: static link of the exec shim failed (no libc.a?); linking it dynamically');
  cc = spawnSync('cc', ccArgs([]), { stdio: 'inherit' });
}
for (const type of shimmed) {
  const out = join(dist, 'cni', type);
  if (cc.status === 0) copyFileSync(join(dist, 'cni', 'meshnet-shim'), out);
  else copyFileSync(join(dist, 'lib', `${type}-plugin.cjs`), out);
  chmodSync(out, 0o755);
}
rmSync(join(dist, 'cni', 'meshnet-shim'), { force: true });
if (cc.status !== 0) console.warn('warning: cc failed; dist/cni plugins run without the exec shim (slower)');
// The lab's sandbox image holds one static program (src/runtime/pause.c): the pods of a lab
// whose runtime is containerd need it; the rest of the project does not.
mkdirSync(join(dist, 'runtime'), { recursive: true });
const pause = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', join(dist, 'runtime', 'pause'), join(root, 'src/runtime/pause.c')], { stdio: 'inherit' });
if (pause.status !== 0) console.warn('warning: cc -static failed for src/runtime/pause.c: labs with runtime: containerd cannot run');
console.log(`built ${entries.length} executables and ${cc.status === 0 ? shimmed.length : 0} exec shim(s) into dist/`);
