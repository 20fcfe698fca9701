// The router plugin in real chains: Debian's ptp (or bridge) + host-local as the pod's overlay
// eth0, Debian's macvlan + host-local for net1 (and net2), then our router in net1's chain,
// exec'd as a runtime execs them inside a test "host" netns. Each test builds its own world:
//
//   pod P ──eth0 (ptp/bridge veth)──► host H ──hs0/sx0──► svc S (10.96.99.10, a hijacked "service")
//   pod P ──netK (macvlan on hmK)──► hmK (host H, 10.K.0.1) ◄──veth──► lxK (lan L: gateways .254,
//                                                             remote address 192.168.77.1)
//
// The node shares net1's subnet, and a macvlan parent cannot reach its children: the host can
// only reach the pod's net1 address through router's host rule and table.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  CHAINED_VERSIONS, addNetworkList, checkNetworkList, delNetworkList, execPlugin, formatResult, parseConfList,
  type CniResult, type CniVersion, type ConfList, type Invocation,
} from '../../src/cni';
import { NetNs, Rtnl, createNamedNetns, deleteNamedNetns, listNamedNetns, readSysctl, withNetns } from '../../src/kernel';
import { rejectsWith } from '../helpers/cni';

const BIN = resolve('dist/cni');
const REF = '/usr/lib/cni';
const run = `rp${process.pid % 100000}${randomBytes(2).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), `${run}-`));
const REF_MAX: CniVersion = '1.0.0'; // Debian's plugins (1.1.1) speak up to 1.0.0

// router serialises host-rule changes with a lock file in /run; remove it if this run created it.
const LOCK = '/run/meta-plugins-router.lock';
const lockExisted = existsSync(LOCK);

after(() => {
  for (const n of listNamedNetns().filter((x) => x.startsWith(run))) deleteNamedNetns(n);
  rmSync(dir, { recursive: true, force: true });
  if (!lockExisted) rmSync(LOCK, { force: true });
});

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function ping(ns: string, dst: string, ...opts: string[]): boolean {
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'ping', ...(dst.includes(':') ? ['-6'] : []), '-c', '1', '-W', '2', ...opts, dst], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function sysctl(ns: string, key: string, value: string | number): void {
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${key}=${value}`]);
}

interface World { tag: string; h: string; l: string; s: string; p: string; ipamDir: string; logFile: string; cleanup(): void }

function world(tag: string, underlays: number, v6 = false): World {
  const w = {
    tag, h: `${run}-${tag}-h`, l: `${run}-${tag}-l`, s: `${run}-${tag}-s`, p: `${run}-${tag}-p`,
    ipamDir: join(dir, tag, 'ipam'), logFile: join(dir, tag, 'router.log'),
  };
  const names = [w.h, w.l, w.s, w.p];
  const cleanup = (): void => { for (const n of names) if (listNamedNetns().includes(n)) deleteNamedNetns(n); };
  try {
    for (const n of names) {
      createNamedNetns(n);
      ip('-n', n, 'link', 'set', 'lo', 'up');
      sysctl(n, 'net.ipv6.conf.all.accept_dad', 0);
      sysctl(n, 'net.ipv6.conf.default.accept_dad', 0);
    }
    sysctl(w.h, 'net.ipv4.ip_forward', 1);
    sysctl(w.h, 'net.ipv6.conf.all.forwarding', 1);
    sysctl(w.l, 'net.ipv4.conf.all.rp_filter', 1);
    sysctl(w.l, 'net.ipv4.conf.default.rp_filter', 1);
    ip('-n', w.l, 'addr', 'add', '192.168.77.1/32', 'dev', 'lo');
    for (let k = 1; k <= underlays; k++) {
      ip('-n', w.h, 'link', 'add', `hm${k}`, 'type', 'veth', 'peer', 'name', `lx${k}`, 'netns', w.l);
      ip('-n', w.h, 'addr', 'add', `10.${k}.0.1/24`, 'dev', `hm${k}`);
      if (v6) ip('-n', w.h, 'addr', 'add', `fd0${k}::1/64`, 'dev', `hm${k}`);
      ip('-n', w.h, 'link', 'set', `hm${k}`, 'up');
      if (v6) ip('-n', w.l, 'addr', 'add', `fd0${k}::fe/64`, 'dev', `lx${k}`);
      ip('-n', w.l, 'addr', 'add', `10.${k}.0.254/24`, 'dev', `lx${k}`);
      ip('-n', w.l, 'link', 'set', `lx${k}`, 'up');
      sysctl(w.l, `net.ipv4.conf.lx${k}.rp_filter`, 1);
    }
    ip('-n', w.h, 'link', 'add', 'hs0', 'type', 'veth', 'peer', 'name', 'sx0', 'netns', w.s);
    ip('-n', w.h, 'addr', 'add', '10.96.99.1/24', 'dev', 'hs0');
    ip('-n', w.h, 'link', 'set', 'hs0', 'up');
    ip('-n', w.s, 'addr', 'add', '10.96.99.10/24', 'dev', 'sx0');
    ip('-n', w.s, 'link', 'set', 'sx0', 'up');
    ip('-n', w.s, 'route', 'add', 'default', 'via', '10.96.99.1');
    if (v6) {
      ip('-n', w.h, 'addr', 'add', 'fd96::1/64', 'dev', 'hs0');
      ip('-n', w.s, 'addr', 'add', 'fd96::10/64', 'dev', 'sx0');
      ip('-n', w.s, '-6', 'route', 'add', 'default', 'via', 'fd96::1');
      ip('-n', w.l, 'addr', 'add', 'fd77::1/128', 'dev', 'lo');
    }
  } catch (e) {
    cleanup();
    throw e;
  }
  return { ...w, cleanup };
}

const POD_OVERLAY_IP = '10.244.0.5';
const underlayIp = (k: number): string => `10.${k}.0.10`;

function overlayList(w: World, version: CniVersion, kind: 'ptp' | 'bridge', v6 = false): ConfList {
  const ranges: unknown[] = [[{ subnet: '10.244.0.0/24', rangeStart: POD_OVERLAY_IP, rangeEnd: POD_OVERLAY_IP, gateway: '10.244.0.1' }]];
  if (v6) ranges.push([{ subnet: 'fd44::/64', rangeStart: 'fd44::5', rangeEnd: 'fd44::5', gateway: 'fd44::1' }]);
  const ipam = {
    type: 'host-local', dataDir: w.ipamDir, routes: [{ dst: '0.0.0.0/0' }, ...(v6 ? [{ dst: '::/0' }] : [])], ranges,
  };
  const plugin = kind === 'ptp' ? { type: 'ptp', ipam } : { type: 'bridge', bridge: 'cni0', isGateway: true, ipam };
  return parseConfList({ cniVersion: version, name: `ovl-${w.tag}`, plugins: [plugin] });
}

function routerConf(w: World, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'router', overlay_interface: 'eth0',
    overlay_hijack_subnet: ['10.244.0.0/16'], service_hijack_subnet: ['10.96.0.0/16'], additional_hijack_subnet: [],
    log_options: { log_file: w.logFile }, ...extra,
  };
}

interface Underlay { k: number; ifname: string; main: ConfList; router: Record<string, unknown>; version: CniVersion }

function underlay(w: World, k: number, version: CniVersion, extra: Record<string, unknown> = {}, v6 = false): Underlay {
  const ranges: unknown[] = [[{ subnet: `10.${k}.0.0/24`, rangeStart: underlayIp(k), rangeEnd: underlayIp(k), gateway: `10.${k}.0.254` }]];
  if (v6) ranges.push([{ subnet: `fd0${k}::/64`, rangeStart: `fd0${k}::10`, rangeEnd: `fd0${k}::10`, gateway: `fd0${k}::fe` }]);
  const main = parseConfList({
    cniVersion: version === '1.1.0' ? REF_MAX : version, name: `und-${w.tag}-${k}`,
    plugins: [{
      type: 'macvlan', master: `hm${k}`, mode: 'bridge',
      ipam: { type: 'host-local', dataDir: w.ipamDir, ranges },
    }],
  });
  return { k, ifname: `net${k}`, main, router: routerConf(w, extra), version };
}

function inv(w: World, containerId: string, ifname: string): Invocation {
  return {
    containerId, netns: `/var/run/netns/${w.p}`, ifname, path: [BIN, REF],
    wrapper: ['nsenter', `--net=/var/run/netns/${w.h}`, '--'], timeoutMs: 30_000,
  };
}

function routerStdin(u: Underlay, prev?: CniResult): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...u.router, name: u.main.name, cniVersion: u.version };
  if (prev) conf['prevResult'] = formatResult({ ...prev, cniVersion: u.version }, u.version);
  return conf;
}

async function addUnderlay(w: World, u: Underlay, id: string): Promise<{ main: CniResult; raw: Record<string, unknown> }> {
  const i = inv(w, id, u.ifname);
  const main = await addNetworkList(u.main, i);
  const raw = (await execPlugin(routerStdin(u, main), 'ADD', i)) as Record<string, unknown>;
  return { main, raw };
}

async function checkUnderlay(w: World, u: Underlay, id: string, main: CniResult): Promise<void> {
  await checkNetworkList(u.main, inv(w, id, u.ifname), main);
  await execPlugin(routerStdin(u, main), 'CHECK', inv(w, id, u.ifname));
}

async function delUnderlay(w: World, u: Underlay, id: string, main?: CniResult): Promise<void> {
  const withPrev = main !== undefined && u.version !== '0.3.0' && u.version !== '0.3.1';
  await execPlugin(routerStdin(u, withPrev ? main : undefined), 'DEL', inv(w, id, u.ifname));
  await delNetworkList(u.main, inv(w, id, u.ifname), main);
}

function state<T>(ns: string, fn: (rt: Rtnl) => T): T {
  const h = NetNs.open(ns);
  const rt = Rtnl.open(h);
  try {
    return fn(rt);
  } finally {
    rt.close();
    h.close();
  }
}

/** The host end of the pod's eth0. */
function hostPeer(w: World): { name: string; mac: string } {
  const idx = state(w.p, (rt) => rt.link('eth0')!.peerIndex!);
  return state(w.h, (rt) => { const l = rt.linkByIndex(idx)!; return { name: l.name, mac: l.mac }; });
}

function counts(w: World): string {
  return JSON.stringify({
    pod: state(w.p, (rt) => [rt.routes().length, rt.rules(4).length, rt.neighs().filter((n) => n.permanent).length]),
    host: state(w.h, (rt) => [rt.routes().length, rt.rules(4).length, rt.neighs().filter((n) => n.permanent).length]),
  });
}


test('dist/cni/router is built and the reference plugins are installed', () => {
  assert.ok(existsSync(join(BIN, 'router')), 'dist/cni/router missing: run npm run build');
  for (const p of ['ptp', 'bridge', 'macvlan', 'host-local']) assert.ok(existsSync(join(REF, p)), `${REF}/${p} missing`);
});

// Chained after a main plugin, on its prevResult: CNI 0.3.0 and newer (0.1.0/0.2.0 had no chains).
for (const version of CHAINED_VERSIONS) {
  test(`CNI ${version}: ptp eth0 + macvlan net1 + router: host ↔ pod, services via eth0, north-south via net1; CHECK, DEL`, async () => {
    const w = world(`s${version.replace(/\./g, '')}`, 1);
    try {
      const id = randomBytes(12).toString('hex');
      const ovl = overlayList(w, version === '1.1.0' ? REF_MAX : version, 'ptp');
      const ovlResult = await addNetworkList(ovl, inv(w, id, 'eth0'));
      const u = underlay(w, 1, version);
      // Control: without router the node cannot reach the pod's macvlan address.
      const probe = await addNetworkList(u.main, inv(w, id, 'net1'));
      assert.equal(ping(w.h, underlayIp(1)), false, 'the macvlan parent must not reach its child before router');
      await delNetworkList(u.main, inv(w, id, 'net1'), probe);

      const { main, raw } = await addUnderlay(w, u, id);
      assert.deepEqual(raw, formatResult({ ...main, cniVersion: version }, version), 'router passes prevResult through');
      const peer = hostPeer(w);
      const eth0Mac = state(w.p, (rt) => rt.link('eth0')!.mac);

      state(w.p, (rt) => {
        // Static neighbours eth0 → host peer for the host IPs; host IPs on-link via eth0.
        for (const hip of ['10.1.0.1', '10.96.99.1']) {
          assert.ok(rt.neighs('eth0', 4).some((n) => n.ip === hip && n.mac === peer.mac && n.permanent), `pod neighbour ${hip}`);
          assert.ok(rt.routes({ family: 4, table: 254 }).some((r) => r.dst === `${hip}/32` && r.dev === 'eth0'), `pod route ${hip}/32 dev eth0`);
        }
        // eth0's default moved into table 100; net1 holds main.
        assert.ok(rt.routes({ family: 4, table: 100 }).some((r) => r.dst === 'default' && r.dev === 'eth0' && r.gw === '10.244.0.1'));
        assert.deepEqual(rt.routes({ family: 4, table: 254 }).filter((r) => r.dst === 'default').map((r) => `${r.dev} ${r.gw}`), ['net1 10.1.0.254']);
        const rules = rt.rules(4);
        for (const to of ['10.244.0.0/16', '10.96.0.0/16']) assert.ok(rules.some((r) => r.to === to && r.table === 100), `rule to ${to} lookup 100`);
        assert.ok(rules.some((r) => r.from === `${POD_OVERLAY_IP}/32` && r.table === 100));
      });
      state(w.h, (rt) => {
        assert.ok(rt.rules(4).some((r) => r.priority === 1000 && r.table === 500 && r.from === undefined), 'host rule from all lookup 500 pref 1000');
        assert.ok(rt.routes({ family: 4, table: 500 }).some((r) => r.dst === `${underlayIp(1)}/32` && r.dev === peer.name));
        assert.ok(rt.neighs(peer.name, 4).some((n) => n.ip === underlayIp(1) && n.mac === eth0Mac && n.permanent));
      });
      assert.equal(execFileSync('ip', ['netns', 'exec', w.h, 'sysctl', '-n', `net.ipv4.conf.${peer.name}.rp_filter`], { encoding: 'utf8' }).trim(), '2');
      withNetns(NetNs.open(w.p), () => assert.equal(readSysctl('net.ipv4.conf.net1.rp_filter'), '2'));

      assert.ok(ping(w.h, underlayIp(1)), 'node → pod underlay IP through eth0 (host table 500)');
      assert.ok(ping(w.p, '10.1.0.1'), 'pod → node through eth0');
      assert.ok(ping(w.p, '10.96.99.10'), 'pod → service through eth0 and the node');
      assert.ok(ping(w.p, '192.168.77.1'), 'pod → outside through net1 (north-south)');
      assert.ok(ping(w.l, underlayIp(1), '-I', '192.168.77.1'), 'outside → pod net1 and back');

      if (version !== '0.3.0' && version !== '0.3.1') {
        await checkUnderlay(w, u, id, main);
        ip('-n', w.p, 'rule', 'del', 'to', '10.96.0.0/16', 'lookup', '100');
        await rejectsWith(execPlugin(routerStdin(u, main), 'CHECK', inv(w, id, 'net1')), 101, /rule 1000: from all to 10\.96\.0\.0\/16 lookup 100 missing/);
      }
      // Repeated ADD repairs and adds nothing twice (upstream's `from` rules failed here).
      await execPlugin(routerStdin(u, main), 'ADD', inv(w, id, 'net1'));
      const before = counts(w);
      await execPlugin(routerStdin(u, main), 'ADD', inv(w, id, 'net1'));
      assert.equal(counts(w), before);
      if (version !== '0.3.0' && version !== '0.3.1') await checkUnderlay(w, u, id, main);

      await delUnderlay(w, u, id, main);
      state(w.h, (rt) => {
        assert.equal(rt.routes({ family: 4, table: 500 }).length, 0, 'host route removed');
        assert.equal(rt.rules(4).some((r) => r.table === 500), false, 'host rule removed with its last route (upstream left it)');
      });
      state(w.p, (rt) => {
        assert.deepEqual(rt.routes({ family: 4, table: 254 }).filter((r) => r.dst === 'default').map((r) => r.dev), ['eth0'], 'eth0 default restored');
        assert.equal(rt.rules(4).some((r) => r.table === 100), false);
      });
      await delUnderlay(w, u, id, main); // already gone: success
      await delNetworkList(ovl, inv(w, id, 'eth0'), ovlResult);
      deleteNamedNetns(w.p);
      await execPlugin(routerStdin(u, main), 'DEL', inv(w, id, 'net1'));
    } finally {
      w.cleanup();
    }
  });
}

test('bridge overlay, three NICs (eth0, net1, net2): net2\'s default goes to table 102, replies on each NIC come back the same way', async () => {
  const w = world('b3', 2);
  try {
    const id = randomBytes(12).toString('hex');
    const ovl = overlayList(w, '1.0.0', 'bridge');
    const ovlResult = await addNetworkList(ovl, inv(w, id, 'eth0'));
    const u1 = underlay(w, 1, '1.0.0');
    const u2 = underlay(w, 2, '1.0.0');
    const { main: m1 } = await addUnderlay(w, u1, id);
    const { main: m2 } = await addUnderlay(w, u2, id);
    state(w.p, (rt) => {
      assert.deepEqual(rt.routes({ family: 4, table: 254 }).filter((r) => r.dst === 'default').map((r) => r.dev), ['net1'], 'net1 (first underlay NIC) keeps main');
      assert.ok(rt.routes({ family: 4, table: 102 }).some((r) => r.dst === 'default' && r.dev === 'net2' && r.gw === '10.2.0.254'));
      assert.ok(rt.rules(4).some((r) => r.from === `${underlayIp(2)}/32` && r.table === 102));
    });
    state(w.h, (rt) => assert.deepEqual(rt.routes({ family: 4, table: 500 }).map((r) => r.dst).sort(), [`${underlayIp(1)}/32`, `${underlayIp(2)}/32`]));
    // The host has one shared rule however many NICs need it.
    assert.equal(state(w.h, (rt) => rt.rules(4).filter((r) => r.table === 500).length), 1);

    for (const k of [1, 2]) {
      assert.ok(ping(w.l, underlayIp(k), '-I', '192.168.77.1'), `outside → net${k} and back the same way`);
      assert.ok(ping(w.h, underlayIp(k)), `node → net${k}`);
    }
    assert.ok(ping(w.p, '10.96.99.10'), 'service through the bridge overlay');
    assert.ok(ping(w.p, '10.1.0.1'), 'node through eth0');
    await checkUnderlay(w, u1, id, m1);
    await checkUnderlay(w, u2, id, m2);

    // net2's DEL keeps the shared host rule (net1 still needs it); net1's DEL removes it.
    await delUnderlay(w, u2, id, m2);
    assert.equal(state(w.h, (rt) => rt.rules(4).filter((r) => r.table === 500).length), 1);
    assert.ok(ping(w.h, underlayIp(1)), 'net1 still reachable from the node');
    await delUnderlay(w, u1, id, m1);
    assert.equal(state(w.h, (rt) => rt.rules(4).filter((r) => r.table === 500).length), 0);
    await delNetworkList(ovl, inv(w, id, 'eth0'), ovlResult);
  } finally {
    w.cleanup();
  }
});

test('sriov mode installs no host rule; a node outside the underlay subnet gets none either', async () => {
  const w = world('sr', 1);
  try {
    const id = randomBytes(12).toString('hex');
    await addNetworkList(overlayList(w, '1.0.0', 'ptp'), inv(w, id, 'eth0'));
    const u = underlay(w, 1, '1.0.0', { sriov: true, host_rule_table: 600 });
    const { main } = await addUnderlay(w, u, id);
    state(w.h, (rt) => {
      assert.equal(rt.rules(4).some((r) => r.table === 600), false);
      assert.equal(rt.routes({ family: 4, table: 600 }).length, 0);
    });
    assert.ok(ping(w.p, '10.96.99.10'), 'hijack rules still work in sriov mode');
    await checkUnderlay(w, u, id, main);
  } finally {
    w.cleanup();
  }
});

test('dual-stack: IPv6 rules, tables, host rule and traffic next to IPv4', async () => {
  const w = world('ds', 1, true);
  try {
    const id = randomBytes(12).toString('hex');
    await addNetworkList(overlayList(w, '1.0.0', 'ptp', true), inv(w, id, 'eth0'));
    const u = underlay(w, 1, '1.0.0', { overlay_hijack_subnet: ['10.244.0.0/16', 'fd44::/64'], service_hijack_subnet: ['10.96.0.0/16', 'fd96::/64'] }, true);
    const { main } = await addUnderlay(w, u, id);
    const peer = hostPeer(w);
    state(w.p, (rt) => {
      const rules = rt.rules(6);
      for (const to of ['fd44::/64', 'fd96::/64']) assert.ok(rules.some((r) => r.to === to && r.table === 100), `rule to ${to} lookup 100`);
      assert.ok(rules.some((r) => r.from === 'fd44::5/128' && r.table === 100));
      assert.ok(rt.routes({ family: 6, table: 100 }).some((r) => r.dst === '::/0' && r.dev === 'eth0'));
      const defaults = rt.routes({ family: 6, table: 254 }).filter((r) => r.dst === '::/0');
      assert.deepEqual(defaults.map((r) => `${r.dev} ${r.gw}`), ['net1 fd01::fe'], 'eth0\'s ::/0 moved out of main (upstream left it)');
      assert.ok(rt.neighs('eth0', 6).some((n) => n.ip === 'fd01::1' && n.mac === peer.mac && n.permanent));
    });
    state(w.h, (rt) => {
      assert.ok(rt.rules(6).some((r) => r.priority === 1000 && r.table === 500));
      assert.ok(rt.routes({ family: 6, table: 500 }).some((r) => r.dst === 'fd01::10/128' && r.dev === peer.name));
    });
    assert.ok(ping(w.h, 'fd01::10'), 'node → pod net1 over IPv6');
    assert.ok(ping(w.p, 'fd01::1'), 'pod → node over IPv6 through eth0');
    assert.ok(ping(w.p, 'fd96::10'), 'pod → service over IPv6 through eth0');
    assert.ok(ping(w.p, 'fd77::1'), 'pod → outside over IPv6 through net1');
    assert.ok(ping(w.p, '10.96.99.10') && ping(w.h, underlayIp(1)), 'IPv4 alongside');
    await checkUnderlay(w, u, id, main);
    await delUnderlay(w, u, id, main);
    state(w.h, (rt) => assert.equal(rt.rules(6).some((r) => r.table === 500), false));
  } finally {
    w.cleanup();
  }
});

test('an ADD that fails half-way (unreachable gateway) is rolled back: eth0 keeps its default route', async () => {
  const w = world('rb', 1);
  try {
    const id = randomBytes(12).toString('hex');
    await addNetworkList(overlayList(w, '1.0.0', 'ptp'), inv(w, id, 'eth0'));
    const u = underlay(w, 1, '1.0.0', { migrate_route: 1 });
    const i = inv(w, id, 'net1');
    const main = await addNetworkList(u.main, i);
    const before = counts(w);
    // A gateway that is not on net1's link: the last pod step (default route in table 101) fails
    // after neighbours, routes, rules and eth0's default route have already been changed.
    const bad: CniResult = { ...main, ips: main.ips.map((x) => ({ ...x, gateway: '10.9.9.9' })) };
    await rejectsWith(execPlugin(routerStdin(u, bad), 'ADD', i), 100, /ADD failed and was rolled back/);
    assert.equal(counts(w), before, 'kernel state is as before the failed ADD');
    state(w.p, (rt) => assert.deepEqual(rt.routes({ family: 4, table: 254 }).filter((r) => r.dst === 'default').map((r) => r.dev), ['eth0']));
    assert.match(readFileSync(w.logFile, 'utf8'), /rolled back: /);
  } finally {
    w.cleanup();
  }
});

test('router errors: bad config names the key; missing overlay interface; not chained', async () => {
  const w = world('er', 1);
  try {
    const id = randomBytes(12).toString('hex');
    const u = underlay(w, 1, '1.0.0');
    const i = inv(w, id, 'net1');
    const main = await addNetworkList(u.main, i);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ service_hijack_subnet: undefined }, /"service_hijack_subnet": is required/],
      [{ overlay_hijack_subnet: ['10.244.0.0/16', 'fd00::/129'] }, /"overlay_hijack_subnet\[1\]": "fd00::\/129" is not a CIDR/],
      [{ rp_filter: { set_host: 'yes', value: 1 } }, /"rp_filter\.set_host": must be true or false/],
      [{ migrate_route: '-1' }, /"migrate_route": must be -1/],
      [{ host_rule_table: 254 }, /"host_rule_table": 254 is one of the kernel's own tables/],
      [{ overlay_interface: 'way-too-long-ifname' }, /"overlay_interface"/],
    ];
    for (const [extra, re] of bad) {
      const b: Underlay = { ...u, router: routerConf(w, extra) };
      for (const [k, v] of Object.entries(extra)) if (v === undefined) delete b.router[k];
      await rejectsWith(execPlugin(routerStdin(b, main), 'ADD', i), 7, re);
    }
    // No overlay eth0 in this pod (its overlay CNI has not run).
    await rejectsWith(execPlugin(routerStdin(u, main), 'ADD', i), 103, /overlay_interface "eth0" does not exist in the pod/);
    await rejectsWith(execPlugin(routerStdin(u), 'ADD', i), 7, /prevResult is missing/);
    assert.match(readFileSync(w.logFile, 'utf8'), /level=error msg=.* plugin=router command=ADD/);
  } finally {
    w.cleanup();
  }
});
