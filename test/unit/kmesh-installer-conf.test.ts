// Choosing and editing the CNI config (pure functions + files in a temp dir), and the plugin's
// config/kubeconfig parsing. The processes and the kernel are covered in test/e2e/kmesh-*.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  chooseConfFile, ConfInFlux, hasEntry, serialize, withEntry, withoutEntry,
} from '../../src/install/conflist';
import { parseKmeshConf } from '../../src/plugins/kmesh/config';
import { loadKubeConfig } from '../../src/plugins/kmesh/kubeconfig';
import { findPodCgroup } from '../../src/plugins/kmesh/cgroup';
import { CniError } from '../../src/cni';

const root = mkdtempSync(join(tmpdir(), 'kmesh-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const dir = (): string => { const d = join(root, `d${++n}`); mkdirSync(d); return d; };
const old = (p: string): void => { const t = new Date(Date.now() - 60_000); utimesSync(p, t, t); };

test('chooses the alphabetically first usable .conflist/.conf/.json, skipping broken and empty lists', () => {
  const d = dir();
  writeFileSync(join(d, '00-broken.conflist'), '{"plugins": [');
  old(join(d, '00-broken.conflist'));
  writeFileSync(join(d, '01-empty.conflist'), '{"cniVersion":"1.0.0","name":"e","plugins":[]}');
  writeFileSync(join(d, '02-notes.txt'), 'x');
  writeFileSync(join(d, '10-b.conf'), '{"cniVersion":"1.0.0","name":"b","type":"bridge"}');
  writeFileSync(join(d, '20-a.conflist'), '{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"ptp"}]}');
  const c = chooseConfFile(d);
  assert.equal(c?.path, join(d, '10-b.conf'));
  assert.equal(c?.single, true);
  assert.deepEqual(c?.list, { cniVersion: '1.0.0', name: 'b', plugins: [{ cniVersion: '1.0.0', name: 'b', type: 'bridge' }] });
  assert.equal(chooseConfFile(d, '20-a.conflist')?.path, join(d, '20-a.conflist'));
  assert.equal(chooseConfFile(dir()), undefined);
});

test('a freshly written unparseable file that sorts first is "in flux", not skipped (the primary may be mid-write)', () => {
  const d = dir();
  writeFileSync(join(d, '05-half.conflist'), '{"cniVersion":"1.0.0","pl');
  writeFileSync(join(d, '10-a.conflist'), '{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"ptp"}]}');
  assert.throws(() => chooseConfFile(d), ConfInFlux);
  old(join(d, '05-half.conflist'));
  assert.equal(chooseConfFile(d)?.path, join(d, '10-a.conflist'));
});

test('withEntry appends, replaces in place, and is detected by hasEntry; withoutEntry removes it', () => {
  const entry = { type: 'kmesh-cni', kubeConfig: '/k' };
  const list = { cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'bridge' }, { type: 'portmap' }] };
  const added = withEntry(list, entry);
  assert.deepEqual((added['plugins'] as unknown[]).at(-1), entry);
  assert.ok(hasEntry(added, { kubeConfig: '/k', type: 'kmesh-cni' }), 'key order does not matter');
  const stale = { ...list, plugins: [{ type: 'bridge' }, { type: 'kmesh-cni', kubeConfig: '/old' }, { type: 'portmap' }] };
  assert.ok(!hasEntry(stale, entry));
  assert.deepEqual(withEntry(stale, entry)['plugins'], [{ type: 'bridge' }, entry, { type: 'portmap' }]);
  assert.deepEqual(withoutEntry(added, 'kmesh-cni')['plugins'], list.plugins);
  assert.deepEqual(list.plugins, [{ type: 'bridge' }, { type: 'portmap' }], 'input not mutated');
});

test('regression kmesh#150: serialize refuses to produce an empty or plugin-less config', () => {
  assert.throws(() => serialize({ cniVersion: '1.0.0', name: 'n', plugins: [] }), /refusing to write an unusable CNI config \(no plugins\)/);
  assert.match(serialize({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'bridge' }] }), /"bridge"/);
});

test('plugin config: defaults, and errors naming the key', () => {
  const c = parseKmeshConf({});
  assert.equal(c.kubeConfig, '/etc/cni/net.d/kmesh-cni-kubeconfig');
  assert.equal(c.netClsRoot, '/sys/fs/cgroup/net_cls');
  assert.throws(() => parseKmeshConf({ netClsRoot: 'relative' }), (e: CniError) => e.code === 7 && /"netClsRoot": must be an absolute path/.test(e.details));
  assert.throws(() => parseKmeshConf({ logLevel: 'loud' }), (e: CniError) => e.code === 7 && /"logLevel"/.test(e.details));
  assert.throws(() => parseKmeshConf({ kubeTimeoutMs: 5 }), (e: CniError) => e.code === 7 && /"kubeTimeoutMs"/.test(e.details));
});

test('kubeconfig: YAML with current-context, file references and client certificates', async () => {
  const d = dir();
  writeFileSync(join(d, 'ca.pem'), 'CA-PEM');
  writeFileSync(join(d, 'kc.yaml'), [
    'apiVersion: v1', 'kind: Config', 'current-context: two',
    'clusters:', '- name: c1', '  cluster: {server: "https://one:6443"}',
    '- name: c2', '  cluster:', '    server: https://two:6443/', '    certificate-authority: ca.pem',
    'users:', '- name: u2', '  user:', `    client-certificate-data: ${Buffer.from('CERT').toString('base64')}`, `    client-key-data: ${Buffer.from('KEY').toString('base64')}`,
    'contexts:', '- name: one', '  context: {cluster: c1, user: u2}', '- name: two', '  context: {cluster: c2, user: u2}', '',
  ].join('\n'));
  const k = await loadKubeConfig(join(d, 'kc.yaml'));
  assert.deepEqual(k, { server: 'https://two:6443', insecureSkipTlsVerify: false, ca: 'CA-PEM', clientCert: 'CERT', clientKey: 'KEY' });
  await assert.rejects(loadKubeConfig(join(d, 'missing')), /cannot read kubeconfig .*missing/);
});

test('cgroup search (plain directory tree): all four kubelet layouts, nothing else matches', () => {
  const d = dir();
  const uid = '1234abcd-0000-1111-2222-333344445555';
  const u = uid.replace(/-/g, '_');
  const layouts = [
    ['kubepods', 'besteffort', `pod${uid}`],
    ['kubepods', `pod${uid}`],
    ['kubepods.slice', 'kubepods-burstable.slice', `kubepods-burstable-pod${u}.slice`],
    ['kubepods.slice', `kubepods-pod${u}.slice`],
    ['kubelet.slice', 'kubelet-kubepods.slice', 'kubelet-kubepods-besteffort.slice', `kubelet-kubepods-besteffort-pod${u}.slice`],
  ];
  for (const parts of layouts) {
    const r = join(d, parts[0]!);
    rmSync(r, { recursive: true, force: true });
    mkdirSync(join(d, ...parts), { recursive: true });
    mkdirSync(join(d, parts[0]!, 'burstable', 'podffffffff-0000-1111-2222-333344445555'), { recursive: true });
    assert.equal(findPodCgroup(d, uid), join(d, ...parts));
    rmSync(r, { recursive: true, force: true });
  }
  assert.throws(() => findPodCgroup(d, uid), new RegExp(`no cgroup directory for pod uid ${uid} under ${d}`));
  assert.throws(() => findPodCgroup(join(d, 'nope'), uid), /cannot read net_cls root .*is the cgroup v1 net_cls controller mounted/);
});
