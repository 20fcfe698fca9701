// meshnetd's CNI installer against temp config and bin directories: the derived conflist (primary
// + upstream's entry, the primary's cniVersion kept, a name that sorts first), re-derivation when
// the primary changes, .conf primaries, a primary mid-write, a vanished primary, neighbours'
// entries, and removal that leaves the primary byte-identical. The daemon-driven path is in
// test/e2e/meshnetd-cluster.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniInstaller, LINK_TYPE_FILE, MESHNET_CONFLIST, derivedName } from '../../src/daemon/cni-installer';
import { ConfInFlux } from '../../src/install/conflist';
import { memoryLogger } from '../../src/log';

const root = mkdtempSync(join(tmpdir(), 'cni-installer-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;

function setup(linkType: 'vxlan' | 'grpc' = 'vxlan') {
  const base = join(root, `t${++seq}`);
  const conf = join(base, 'net.d');
  const bin = join(base, 'bin');
  mkdirSync(conf, { recursive: true });
  mkdirSync(bin, { recursive: true });
  const shim = join(base, 'shim');
  writeFileSync(shim, '#!/bin/sh\necho shim\n');
  const logs: string[] = [];
  const inst = new CniInstaller({ confDir: conf, binDir: bin, shim, interNodeLinkType: linkType, resyncMs: 60_000, log: memoryLogger(logs) });
  return { conf, bin, shim, inst, logs };
}

const KINDNET = `{"cniVersion":"1.0.0","name":"kindnet","plugins":[{"type":"ptp","ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.1.0/24"}]]}},{"type":"portmap","capabilities":{"portMappings":true}}]}`;
const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };

test('the derived 00-meshnet.conflist is the primary with upstream\'s entry appended, its cniVersion kept; the shim and the link-type file are installed', () => {
  const { conf, bin, shim, inst } = setup('grpc');
  writeFileSync(join(conf, '10-kindnet.conflist'), KINDNET);
  inst.reconcile();
  inst.installBinary();
  const d = read(join(conf, MESHNET_CONFLIST));
  assert.equal(d.cniVersion, '1.0.0', 'not forced down to 0.3.0 (meshnet-cni #40)');
  assert.equal(d.name, 'kindnet');
  assert.deepEqual(d.plugins.map((p) => p.type), ['ptp', 'portmap', 'meshnet']);
  assert.deepEqual(d.plugins[2], { type: 'meshnet', name: 'meshnet' });
  assert.equal(readFileSync(join(conf, '10-kindnet.conflist'), 'utf8'), KINDNET, 'the primary is untouched');
  assert.deepEqual(readFileSync(join(bin, 'meshnet')), readFileSync(shim));
  assert.equal(statSync(join(bin, 'meshnet')).mode & 0o777, 0o755);
  assert.equal(readFileSync(join(conf, LINK_TYPE_FILE), 'utf8'), 'GRPC', "upstream's plugin reads this file");
  assert.equal(inst.installed, true);
});

test('a primary that rewrites its file (new plugins): the derived file follows it', () => {
  const { conf, inst } = setup();
  writeFileSync(join(conf, '10-kindnet.conflist'), KINDNET);
  inst.reconcile();
  const next = KINDNET.replace('"portmap"', '"bandwidth"');
  writeFileSync(join(conf, '10-kindnet.conflist'), next);
  inst.reconcile();
  assert.deepEqual(read(join(conf, MESHNET_CONFLIST)).plugins.map((p) => p.type), ['ptp', 'bandwidth', 'meshnet']);
});

test('a single-plugin .conf primary becomes a list of one plus meshnet; the .conf stays as it was', () => {
  const { conf, inst } = setup();
  const single = '{"cniVersion":"0.4.0","name":"br","type":"bridge","bridge":"cni0","ipam":{"type":"host-local","subnet":"10.22.0.0/16"}}';
  writeFileSync(join(conf, '10-bridge.conf'), single);
  inst.reconcile();
  const d = read(join(conf, MESHNET_CONFLIST));
  assert.deepEqual([d.cniVersion, d.name, d.plugins.map((p) => p.type)], ['0.4.0', 'br', ['bridge', 'meshnet']]);
  assert.equal(readFileSync(join(conf, '10-bridge.conf'), 'utf8'), single);
});

test('a primary whose name sorts before 00-meshnet: the derived file gets a name that a runtime still loads first', () => {
  assert.equal(derivedName('10-calico.conflist'), MESHNET_CONFLIST);
  assert.equal(derivedName('00-calico.conflist'), '00-calico-meshnet.conflist');
  const { conf, inst } = setup();
  writeFileSync(join(conf, '00-calico.conflist'), KINDNET);
  inst.reconcile();
  const names = readdirSync(conf).filter((n) => /\.(conflist|conf|json)$/.test(n)).sort();
  assert.deepEqual(names, ['00-calico-meshnet.conflist', '00-calico.conflist'], 'ours sorts first');
});

test('a primary caught mid-write is waited for (never chosen half-written, never a broken derived file)', () => {
  const { conf, inst } = setup();
  writeFileSync(join(conf, '20-other.conflist'), KINDNET);
  writeFileSync(join(conf, '10-kindnet.conflist'), KINDNET.slice(0, 40));
  assert.throws(() => inst.reconcile(), ConfInFlux);
  assert.ok(!existsSync(join(conf, MESHNET_CONFLIST)));
});

test('the primary vanishes: the derived copy goes too (it would keep a removed network alive), and comes back with a new primary', () => {
  const { conf, inst } = setup();
  writeFileSync(join(conf, '10-kindnet.conflist'), KINDNET);
  inst.reconcile();
  rmSync(join(conf, '10-kindnet.conflist'));
  inst.reconcile();
  assert.ok(!existsSync(join(conf, MESHNET_CONFLIST)));
  assert.equal(inst.installed, false);
  writeFileSync(join(conf, '10-flannel.conflist'), KINDNET.replace('kindnet', 'flannel'));
  inst.reconcile();
  assert.equal(read(join(conf, MESHNET_CONFLIST)).name, 'flannel');
});

test("another installer's entry in our file is left alone while the primary is unchanged (no fight)", () => {
  const { conf, inst } = setup();
  writeFileSync(join(conf, '10-kindnet.conflist'), KINDNET);
  inst.reconcile();
  const d = read(join(conf, MESHNET_CONFLIST));
  const withKmesh = { ...d, plugins: [...d.plugins, { type: 'kmesh-cni', kubeConfig: '/k' }] };
  writeFileSync(join(conf, MESHNET_CONFLIST), JSON.stringify(withKmesh));
  inst.reconcile();
  assert.deepEqual(read(join(conf, MESHNET_CONFLIST)).plugins.map((p) => p.type), ['ptp', 'portmap', 'meshnet', 'kmesh-cni']);
});

test("upstream's leftover 00-meshnet.conflist (forced to 0.3.0) is replaced by a proper derivation", () => {
  const { conf, inst } = setup();
  writeFileSync(join(conf, '10-kindnet.conflist'), KINDNET);
  writeFileSync(join(conf, MESHNET_CONFLIST), JSON.stringify({ ...JSON.parse(KINDNET), cniVersion: '0.3.0', plugins: [...JSON.parse(KINDNET).plugins, { type: 'meshnet', name: 'meshnet' }] }));
  inst.reconcile();
  assert.equal(read(join(conf, MESHNET_CONFLIST)).cniVersion, '1.0.0');
});

test('uninstall removes the derived file and the link-type file, leaves the primary byte-identical and the shim in place', () => {
  const { conf, bin, inst } = setup();
  writeFileSync(join(conf, '10-kindnet.conflist'), KINDNET);
  inst.start();
  inst.uninstall();
  assert.deepEqual(readdirSync(conf), ['10-kindnet.conflist']);
  assert.equal(readFileSync(join(conf, '10-kindnet.conflist'), 'utf8'), KINDNET);
  assert.ok(existsSync(join(bin, 'meshnet')), 'the shim stays: without an entry nothing calls it');
});
