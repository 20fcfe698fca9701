// dist/kmesh-installer as a real long-running process against temp CNI config/bin directories
// and a temp service-account directory: insertion, .conf conversion, in-place replacement, the
// watch that re-inserts after the primary CNI rewrites its file, token rotation, and removal on
// SIGTERM that leaves the primary's file byte-identical (also after a SIGKILL + restart).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { until as waitUntil } from '../helpers/wait';

const INSTALLER = resolve('dist/kmesh-installer');
const PLUGIN = resolve('dist/cni/kmesh-cni');
const root = mkdtempSync(join(tmpdir(), 'kmesh-inst-'));
const children = new Set<ChildProcess>();

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

interface Env { conf: string; bin: string; sa: string }
let seq = 0;
function env(): Env {
  const base = join(root, `t${++seq}`);
  const e = { conf: join(base, 'net.d'), bin: join(base, 'bin'), sa: join(base, 'sa') };
  for (const d of Object.values(e)) mkdirSync(d, { recursive: true });
  writeFileSync(join(e.sa, 'token'), 'token-one\n');
  writeFileSync(join(e.sa, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  return e;
}

function start(e: Env, extra: string[] = []): ChildProcess & { logs: string[] } {
  const c = spawn(process.execPath, [INSTALLER, '--cni-conf-dir', e.conf, '--cni-bin-dir', e.bin, '--service-account-dir', e.sa,
    '--plugin-binary', PLUGIN, '--resync-interval-ms', '500', ...extra], {
    env: { ...process.env, KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { logs: string[] };
  c.logs = [];
  c.stderr!.on('data', (d: Buffer) => c.logs.push(d.toString()));
  c.stdout!.on('data', (d: Buffer) => c.logs.push(d.toString()));
  children.add(c);
  return c;
}

async function stop(c: ChildProcess, sig: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  const done = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
  c.kill(sig);
  return done;
}


/** The installer reacts within milliseconds: 5 s is ample. */
const until = <T>(what: string, fn: () => T | undefined | false, ms = 5000) => waitUntil(what, fn, ms);

const BRIDGE = { type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local', subnet: '10.22.0.0/16' } };
// Deliberately not in our serializer's format (compact, tabs): byte-identity is checkable.
const conflistBytes = (plugins: unknown[], name = 'primary'): string => `{"cniVersion":"1.0.0","name":"${name}",\n\t"plugins":${JSON.stringify(plugins)}}`;

const plugins = (file: string): Array<Record<string, unknown>> => (JSON.parse(readFileSync(file, 'utf8')) as { plugins: Array<Record<string, unknown>> }).plugins;
const kmeshEntries = (file: string) => plugins(file).filter((p) => p['type'] === 'kmesh-cni');
const hasKmesh = (file: string): boolean => kmeshEntries(file).length === 1;

function assertClean(e: Env, c: ChildProcess & { logs: string[] }): void {
  assert.ok(!existsSync(join(e.conf, 'kmesh-cni-kubeconfig')), 'kubeconfig removed');
  assert.ok(!existsSync(join(e.bin, 'kmesh-cni')), 'binary removed');
  assert.deepEqual(readdirSync(e.conf).filter((n) => n.startsWith('.')), [], `no state or temp files left (${c.logs.join('')})`);
}

test('conflist: entry appended at the end, binary copied 0755, kubeconfig 0600; SIGTERM restores the file byte-identical and removes everything', async () => {
  const e = env();
  const primary = join(e.conf, '10-bridge.conflist');
  const original = conflistBytes([BRIDGE, { type: 'portmap', capabilities: { portMappings: true } }]);
  writeFileSync(primary, original);
  chmodSync(primary, 0o640);
  const later = join(e.conf, '20-other.conflist');
  writeFileSync(later, conflistBytes([BRIDGE], 'other'));
  const c = start(e, ['--plugin-config', '{"netClsRoot":"/sys/fs/cgroup/net_cls"}']);
  await until('entry', () => hasKmesh(primary));
  const ps = plugins(primary);
  assert.deepEqual(ps.map((p) => p['type']), ['bridge', 'portmap', 'kmesh-cni']);
  assert.deepEqual(ps[2], { type: 'kmesh-cni', kubeConfig: join(e.conf, 'kmesh-cni-kubeconfig'), netClsRoot: '/sys/fs/cgroup/net_cls' });
  assert.equal(statSync(primary).mode & 0o777, 0o640, 'mode kept');
  assert.equal(readFileSync(later, 'utf8'), conflistBytes([BRIDGE], 'other'), 'only the first file is edited');
  const bin = join(e.bin, 'kmesh-cni');
  assert.deepEqual(readFileSync(bin), readFileSync(PLUGIN));
  assert.equal(statSync(bin).mode & 0o777, 0o755);
  const kc = join(e.conf, 'kmesh-cni-kubeconfig');
  await until('kubeconfig', () => existsSync(kc));
  assert.equal(statSync(kc).mode & 0o777, 0o600);
  const doc = JSON.parse(readFileSync(kc, 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }>; users: Array<{ user: Record<string, string> }> };
  assert.equal(doc.clusters[0]!.cluster['server'], 'https://10.96.0.1:443');
  assert.equal(doc.users[0]!.user['token'], 'token-one');
  // The copied binary runs on its own (no node_modules next to it).
  assert.match(execFileSync(bin, { env: { ...process.env, CNI_COMMAND: 'VERSION' }, encoding: 'utf8' }), /"supportedVersions"/);

  assert.equal(await stop(c), 0);
  assert.equal(readFileSync(primary, 'utf8'), original);
  assert.equal(statSync(primary).mode & 0o777, 0o640);
  assertClean(e, c);
});

test('.conf: converted to a .conflist with the entry (the .conf is what a runtime would load first); SIGTERM brings the .conf back byte-identical', async () => {
  const e = env();
  const conf = join(e.conf, '10-bridge.conf');
  const original = `{"cniVersion":"0.4.0","name":"br","type":"bridge","bridge":"cni0","ipam":{"type":"host-local","subnet":"10.22.0.0/16"}}`;
  writeFileSync(conf, original);
  writeFileSync(join(e.conf, '99-late.conflist'), conflistBytes([BRIDGE], 'late'));
  const c = start(e);
  const out = join(e.conf, '10-bridge.conflist');
  await until('conversion', () => existsSync(out) && hasKmesh(out) && !existsSync(conf));
  const list = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
  assert.equal(list['cniVersion'], '0.4.0');
  assert.equal(list['name'], 'br');
  assert.deepEqual(plugins(out).map((p) => p['type']), ['bridge', 'kmesh-cni']);
  assert.ok(!hasKmesh(join(e.conf, '99-late.conflist')));
  assert.equal(await stop(c, 'SIGINT'), 0);
  assert.equal(readFileSync(conf, 'utf8'), original);
  assert.ok(!existsSync(out));
  assertClean(e, c);
});

test('an existing kmesh-cni entry is replaced in place, not duplicated', async () => {
  const e = env();
  const primary = join(e.conf, '05-x.conflist');
  writeFileSync(primary, conflistBytes([BRIDGE, { type: 'kmesh-cni', kubeConfig: '/old/path' }, { type: 'portmap' }]));
  const c = start(e);
  await until('replacement', () => kmeshEntries(primary)[0]?.['kubeConfig'] === join(e.conf, 'kmesh-cni-kubeconfig'));
  assert.deepEqual(plugins(primary).map((p) => p['type']), ['bridge', 'kmesh-cni', 'portmap']);
  assert.equal(await stop(c), 0);
  // The stale entry (a previous installer's) is not brought back: the primary's plugins remain.
  assert.deepEqual(plugins(primary).map((p) => p['type']), ['bridge', 'portmap']);
  assertClean(e, c);
});

test('watch: the entry is re-inserted when the primary CNI rewrites its file, and SIGTERM leaves the primary\'s new file byte-identical', async () => {
  const e = env();
  const primary = join(e.conf, '10-calico.conflist');
  writeFileSync(primary, conflistBytes([BRIDGE]));
  const c = start(e, ['--resync-interval-ms', '60000']); // the watch, not the resync, must do it
  await until('entry', () => hasKmesh(primary));
  // The primary writes its new version the usual way: temp file + rename.
  const rewritten = conflistBytes([BRIDGE, { type: 'bandwidth' }], 'primary-v2');
  writeFileSync(join(e.conf, 'tmp-calico'), rewritten);
  renameSync(join(e.conf, 'tmp-calico'), primary);
  await until('re-insertion', () => hasKmesh(primary) && plugins(primary).length === 3, 3000);
  assert.deepEqual(plugins(primary).map((p) => p['type']), ['bridge', 'bandwidth', 'kmesh-cni']);
  // And an in-place rewrite (truncate + write).
  const v3 = conflistBytes([BRIDGE], 'primary-v3');
  writeFileSync(primary, v3);
  await until('re-insertion after in-place write', () => hasKmesh(primary) && JSON.parse(readFileSync(primary, 'utf8')).name === 'primary-v3', 3000);
  assert.equal(await stop(c), 0);
  assert.equal(readFileSync(primary, 'utf8'), v3);
  assertClean(e, c);
});

test('no config yet: the installer waits and inserts as soon as the primary CNI writes one', async () => {
  const e = env();
  const c = start(e);
  await until('waiting log', () => c.logs.join('').includes('waiting for the primary CNI'));
  const primary = join(e.conf, '10-late.conflist');
  writeFileSync(primary, conflistBytes([BRIDGE]));
  await until('entry', () => hasKmesh(primary), 3000);
  assert.equal(await stop(c), 0);
  assert.equal(readFileSync(primary, 'utf8'), conflistBytes([BRIDGE]));
  assertClean(e, c);
});

test('token rotation rewrites the kubeconfig (mode stays 0600)', async () => {
  const e = env();
  writeFileSync(join(e.conf, '10-bridge.conflist'), conflistBytes([BRIDGE]));
  const c = start(e);
  const kc = join(e.conf, 'kmesh-cni-kubeconfig');
  await until('kubeconfig', () => readFileSync(kc, 'utf8').includes('token-one'));
  writeFileSync(join(e.sa, 'token.new'), 'token-two\n');
  renameSync(join(e.sa, 'token.new'), join(e.sa, 'token'));
  await until('rotation', () => readFileSync(kc, 'utf8').includes('token-two'), 3000);
  assert.doesNotMatch(readFileSync(kc, 'utf8'), /token-one/);
  assert.equal(statSync(kc).mode & 0o777, 0o600);
  assert.equal(await stop(c), 0);
  assertClean(e, c);
});

test('SIGKILL leaves a working install behind; a restarted installer adopts it (one entry) and its SIGTERM restores the original byte-identical', async () => {
  const e = env();
  const primary = join(e.conf, '10-bridge.conflist');
  const original = conflistBytes([BRIDGE]);
  writeFileSync(primary, original);
  const c1 = start(e);
  await until('entry', () => hasKmesh(primary) && existsSync(join(e.conf, 'kmesh-cni-kubeconfig')));
  await stop(c1, 'SIGKILL');
  // What a runtime sees after the crash: entry, binary and kubeconfig, consistent with each other.
  assert.ok(hasKmesh(primary));
  assert.ok(existsSync(join(e.bin, 'kmesh-cni')));
  assert.ok(existsSync(join(e.conf, 'kmesh-cni-kubeconfig')));
  const c2 = start(e);
  await until('adoption log', () => c2.logs.join('').includes('running'));
  assert.equal(kmeshEntries(primary).length, 1);
  assert.equal(await stop(c2), 0);
  assert.equal(readFileSync(primary, 'utf8'), original);
  assertClean(e, c2);
});

test('after a SIGKILL, `kmesh-installer --uninstall` removes everything and restores the original (converted .conf too)', async () => {
  const e = env();
  const conf = join(e.conf, '10-bridge.conf');
  const original = `{"cniVersion":"1.0.0","name":"br","type":"bridge"}\n`;
  writeFileSync(conf, original);
  const c = start(e);
  await until('conversion', () => !existsSync(conf) && hasKmesh(join(e.conf, '10-bridge.conflist')));
  await stop(c, 'SIGKILL');
  execFileSync(process.execPath, [INSTALLER, '--uninstall', '--cni-conf-dir', e.conf, '--cni-bin-dir', e.bin], { stdio: 'ignore' });
  assert.equal(readFileSync(conf, 'utf8'), original);
  assert.ok(!existsSync(join(e.conf, '10-bridge.conflist')));
  assertClean(e, c as ChildProcess & { logs: string[] });
});

test('a bad flag or a missing KUBERNETES_SERVICE_HOST fails with exit 2 and changes nothing', () => {
  const e = env();
  writeFileSync(join(e.conf, '10-bridge.conflist'), conflistBytes([BRIDGE]));
  const r = (args: string[], envv: Record<string, string | undefined>): { status: number | null; stderr: string } => {
    try {
      execFileSync(process.execPath, [INSTALLER, ...args], { env: envv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return { status: 0, stderr: '' };
    } catch (err) {
      const x = err as { status: number | null; stderr: string };
      return { status: x.status, stderr: x.stderr };
    }
  };
  const noHost = { ...process.env, KUBERNETES_SERVICE_HOST: undefined };
  const a = r(['--cni-conf-dir', e.conf], noHost);
  assert.equal(a.status, 2);
  assert.match(a.stderr, /KUBERNETES_SERVICE_HOST is not set/);
  const b = r(['--cni-conf-dir', e.conf, '--bogus', 'x'], { ...process.env, KUBERNETES_SERVICE_HOST: '10.0.0.1' });
  assert.equal(b.status, 2);
  assert.match(b.stderr, /unknown flag --bogus/);
  assert.equal(readFileSync(join(e.conf, '10-bridge.conflist'), 'utf8'), conflistBytes([BRIDGE]));
  assert.deepEqual(readdirSync(e.bin), []);
});
