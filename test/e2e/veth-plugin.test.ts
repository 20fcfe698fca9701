// The veth plugin in real chains: Debian's macvlan + host-local as the main plugin, then our
// veth, exec'd as a runtime execs them inside a test "host" netns. Every test builds its own
// little world of namespaces:
//
//   pod P ──macvlan──► hmK (host H) ◄──veth──► lxK (lan L: the NICs' gateways, .254, and a
//                                               "remote" address 192.168.77.1 behind them)
//   pod P ──veth0/vethXXXX──► host H ──hs0/sx0──► svc S (10.96.99.10: a hijacked "service")
//
// A macvlan child cannot talk to its parent's addresses, so without the plugin the pod cannot
// reach its host at all: every ping below to a host IP or to the service proves the plugin's path.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  CHAINED_VERSIONS, addNetworkList, checkNetworkList, delNetworkList, execPlugin, formatResult, parseConfList,
  type CniResult, type CniVersion, type Invocation,
} from '../../src/cni';
import { NetNs, Rtnl, createNamedNetns, deleteNamedNetns, listNamedNetns, readSysctl, withNetns } from '../../src/kernel';
import { rejectsWith } from '../helpers/cni';

const BIN = resolve('dist/cni');
const REF = '/usr/lib/cni';
const run = `vp${process.pid % 100000}${randomBytes(2).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), `${run}-`));
// Debian's plugins (1.1.1) speak up to 1.0.0; for 1.1.0 they run at 1.0.0 and only veth gets 1.1.0.
const REF_MAX: CniVersion = '1.0.0';

after(() => {
  for (const n of listNamedNetns().filter((x) => x.startsWith(run))) deleteNamedNetns(n);
  rmSync(dir, { recursive: true, force: true });
});

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function inNs(ns: string, ...cmd: string[]): boolean {
  try {
    execFileSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const ping = (ns: string, dst: string, ...opts: string[]): boolean =>
  inNs(ns, 'ping', ...(dst.includes(':') ? ['-6'] : []), '-c', '1', '-W', '2', ...opts, dst);

function sysctl(ns: string, key: string, value: string | number): void {
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${key}=${value}`]);
}

interface Nic { ifname: string; v4: string; v6: string; hostV4: string; hostV6: string; gwV4: string; gwV6: string }

/** NIC k lives on 10.(k+1).0.0/24 and fd0(k+1)::/64; the host has .1, the lan gateway .254. */
function nicOf(k: number, ifname: string): Nic {
  const n = k + 1;
  return {
    ifname, v4: `10.${n}.0.10`, v6: `fd0${n}::10`, hostV4: `10.${n}.0.1`, hostV6: `fd0${n}::1`, gwV4: `10.${n}.0.254`, gwV6: `fd0${n}::fe`,
  };
}

interface World { tag: string; h: string; l: string; s: string; p: string; nics: Nic[]; ipamDir: string; logFile: string }

/** Builds the namespaces of one test; torn down by the file's after() and by world.cleanup(). */
function world(tag: string, nicCount: number, opts: { hostV6?: boolean } = {}): World & { cleanup(): void } {
  const w: World = {
    tag, h: `${run}-${tag}-h`, l: `${run}-${tag}-l`, s: `${run}-${tag}-s`, p: `${run}-${tag}-p`,
    nics: [], ipamDir: join(dir, tag, 'ipam'), logFile: join(dir, tag, 'veth.log'),
  };
  const names = [w.h, w.l, w.s, w.p];
  const cleanup = (): void => { for (const n of names) if (listNamedNetns().includes(n)) deleteNamedNetns(n); };
  try {
    for (const n of names) createNamedNetns(n);
    const hostV6 = opts.hostV6 ?? true;
    for (const n of names) {
      ip('-n', n, 'link', 'set', 'lo', 'up');
      // Addresses are usable at once (no DAD wait) in every namespace of the test.
      sysctl(n, 'net.ipv6.conf.all.accept_dad', 0);
      sysctl(n, 'net.ipv6.conf.default.accept_dad', 0);
    }
    sysctl(w.h, 'net.ipv4.ip_forward', 1);
    sysctl(w.h, 'net.ipv6.conf.all.forwarding', 1);
    // The lan drops packets that come back on the wrong NIC: that is how a broken reply path shows.
    sysctl(w.l, 'net.ipv4.conf.all.rp_filter', 1);
    sysctl(w.l, 'net.ipv4.conf.default.rp_filter', 1);
    ip('-n', w.l, 'addr', 'add', '192.168.77.1/32', 'dev', 'lo');
    for (let k = 0; k < nicCount; k++) {
      const nic = nicOf(k, k === 0 ? 'eth0' : `net${k}`);
      w.nics.push(nic);
      ip('-n', w.h, 'link', 'add', `hm${k}`, 'type', 'veth', 'peer', 'name', `lx${k}`, 'netns', w.l);
      ip('-n', w.h, 'addr', 'add', `${nic.hostV4}/24`, 'dev', `hm${k}`);
      if (hostV6) ip('-n', w.h, 'addr', 'add', `${nic.hostV6}/64`, 'dev', `hm${k}`);
      ip('-n', w.h, 'link', 'set', `hm${k}`, 'up');
      ip('-n', w.l, 'addr', 'add', `${nic.gwV4}/24`, 'dev', `lx${k}`);
      ip('-n', w.l, 'addr', 'add', `${nic.gwV6}/64`, 'dev', `lx${k}`);
      ip('-n', w.l, 'link', 'set', `lx${k}`, 'up');
      sysctl(w.l, `net.ipv4.conf.lx${k}.rp_filter`, 1);
    }
    ip('-n', w.h, 'link', 'add', 'hs0', 'type', 'veth', 'peer', 'name', 'sx0', 'netns', w.s);
    ip('-n', w.h, 'addr', 'add', '10.96.99.1/24', 'dev', 'hs0');
    if (hostV6) ip('-n', w.h, 'addr', 'add', 'fd96::1/64', 'dev', 'hs0');
    ip('-n', w.h, 'link', 'set', 'hs0', 'up');
    ip('-n', w.s, 'addr', 'add', '10.96.99.10/24', 'dev', 'sx0');
    ip('-n', w.s, 'addr', 'add', 'fd96::10/64', 'dev', 'sx0');
    ip('-n', w.s, 'link', 'set', 'sx0', 'up');
    ip('-n', w.s, 'route', 'add', 'default', 'via', '10.96.99.1');
    if (hostV6) ip('-n', w.s, '-6', 'route', 'add', 'default', 'via', 'fd96::1');
  } catch (e) {
    cleanup();
    throw e;
  }
  return { ...w, cleanup };
}

function vethConf(w: World, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'veth',
    overlay_hijack_subnet: ['10.244.0.0/16', 'fd44::/64'],
    service_hijack_subnet: ['10.96.0.0/16', 'fd96::/64'],
    additional_hijack_subnet: [],
    log_options: { log_file: w.logFile, log_level: 'debug' },
    ...extra,
  };
}

function macvlanConf(w: World, k: number, dual: boolean, defaultRoute: boolean): Record<string, unknown> {
  const nic = w.nics[k]!;
  const n = k + 1;
  const ranges: unknown[] = [[{ subnet: `10.${n}.0.0/24`, rangeStart: nic.v4, rangeEnd: nic.v4, gateway: nic.gwV4 }]];
  if (dual) ranges.push([{ subnet: `fd0${n}::/64`, rangeStart: nic.v6, rangeEnd: nic.v6, gateway: nic.gwV6 }]);
  const routes = defaultRoute ? [{ dst: '0.0.0.0/0' }, ...(dual ? [{ dst: '::/0' }] : [])] : [];
  return {
    type: 'macvlan', master: `hm${k}`, mode: 'bridge',
    ipam: { type: 'host-local', ranges, routes, dataDir: w.ipamDir },
  };
}

/** One attachment: the conflist(s) a runtime would run for NIC k, split when veth is newer than Debian's plugins. */
interface Attachment { ifname: string; main: ReturnType<typeof parseConfList>; veth: Record<string, unknown>; version: CniVersion }

function attachment(w: World, k: number, version: CniVersion, opts: { dual?: boolean; veth?: Record<string, unknown> } = {}): Attachment {
  const mainVersion = version === '1.1.0' ? REF_MAX : version;
  const main = parseConfList({
    cniVersion: mainVersion, name: `net-${w.tag}-${k}`,
    plugins: [macvlanConf(w, k, opts.dual ?? false, k === 0)],
  });
  return { ifname: w.nics[k]!.ifname, main, veth: vethConf(w, opts.veth), version };
}

function invocation(w: World, a: Attachment, containerId: string): Invocation {
  return {
    containerId, netns: `/var/run/netns/${w.p}`, ifname: a.ifname, path: [BIN, REF],
    wrapper: ['nsenter', `--net=/var/run/netns/${w.h}`, '--'], timeoutMs: 30_000,
  };
}

function vethStdin(a: Attachment, name: string, prev?: CniResult): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...a.veth, name, cniVersion: a.version };
  if (prev) conf['prevResult'] = formatResult({ ...prev, cniVersion: a.version }, a.version);
  return conf;
}

/** ADD as a runtime does it: the main plugin, then veth with the main plugin's result. */
async function add(w: World, a: Attachment, id: string): Promise<{ main: CniResult; result: CniResult; raw: Record<string, unknown> }> {
  const inv = invocation(w, a, id);
  const main = await addNetworkList(a.main, inv);
  const raw = (await execPlugin(vethStdin(a, a.main.name, main), 'ADD', inv)) as Record<string, unknown>;
  return { main, result: { ...main, interfaces: (raw['interfaces'] as CniResult['interfaces']) ?? [] }, raw };
}

async function check(w: World, a: Attachment, id: string, main: CniResult): Promise<void> {
  const inv = invocation(w, a, id);
  await checkNetworkList(a.main, inv, main);
  await execPlugin(vethStdin(a, a.main.name, main), 'CHECK', inv);
}

async function del(w: World, a: Attachment, id: string, main?: CniResult): Promise<void> {
  const inv = invocation(w, a, id);
  const prev = main !== undefined && a.version !== '0.3.0' && a.version !== '0.3.1' ? main : undefined;
  await execPlugin(vethStdin(a, a.main.name, prev), 'DEL', inv);
  await delNetworkList(a.main, inv, main);
}

/** Reads kernel state of a test namespace through our own rtnetlink layer. */
function state<T>(ns: string, fn: (rt: Rtnl, h: NetNs) => T): T {
  const h = NetNs.open(ns);
  const rt = Rtnl.open(h);
  try {
    return fn(rt, h);
  } finally {
    rt.close();
    h.close();
  }
}

const hostVeth = (id: string): string => `veth${id.slice(0, 11)}`;
const newId = (): string => randomBytes(12).toString('hex');

function counts(w: World): string {
  const pod = state(w.p, (rt) => [rt.routes().length, rt.rules(4).length, rt.rules(6).length, rt.neighs().filter((n) => n.permanent).length]);
  const host = state(w.h, (rt) => [rt.routes().length, rt.rules(4).length, rt.neighs().filter((n) => n.permanent).length, rt.links().length]);
  return JSON.stringify({ pod, host });
}


test('dist/cni/veth is built and the reference plugins are installed', () => {
  assert.ok(existsSync(join(BIN, 'veth')), 'dist/cni/veth missing: run npm run build');
  assert.ok(existsSync(join(REF, 'macvlan')) && existsSync(join(REF, 'host-local')), 'containernetworking-plugins missing');
});

// Chained after a main plugin, on its prevResult: CNI 0.3.0 and newer (0.1.0/0.2.0 had no chains).
for (const version of CHAINED_VERSIONS) {
  test(`CNI ${version}: macvlan + host-local, then veth: host and hijacked service reachable; CHECK, repeated ADD, DEL`, async () => {
    const w = world(`s${version.replace(/\./g, '')}`, 1);
    try {
      const a = attachment(w, 0, version);
      const id = newId();
      const nic = w.nics[0]!;
      // Without the plugin the macvlan pod cannot reach its own host: the control for every ping below.
      const main0 = await addNetworkList(a.main, invocation(w, a, `${id}x`));
      assert.equal(ping(w.p, nic.hostV4), false, 'a macvlan child must not reach its parent before veth');
      await delNetworkList(a.main, invocation(w, a, `${id}x`), main0);

      const { main, result, raw } = await add(w, a, id);
      assert.equal(raw['cniVersion'], version);
      // prevResult passes through; veth adds its two interfaces.
      assert.deepEqual(result.interfaces.slice(0, main.interfaces.length), main.interfaces);
      const names = result.interfaces.map((i) => i.name);
      assert.ok(names.includes('veth0') && names.includes(hostVeth(id)), `interfaces: ${names.join(', ')}`);
      assert.deepEqual(raw['ips'], formatResult({ ...main, cniVersion: version }, version)['ips']);

      const hv = hostVeth(id);
      const hostMac = state(w.h, (rt) => rt.link(hv)!.mac);
      const podMac = state(w.p, (rt) => rt.link('veth0')!.mac);
      // veth0 in the pod is paired with the host end named from the container id, MTU 1500.
      state(w.p, (rt) => {
        const v = rt.link('veth0')!;
        assert.equal(v.kind, 'veth');
        assert.equal(v.mtu, 1500);
        assert.equal(v.peerIndex, state(w.h, (h) => h.link(hv)!.index));
      });
      // Permanent neighbours both ways.
      state(w.h, (rt) => assert.ok(rt.neighs(hv, 4).some((n) => n.ip === nic.v4 && n.mac === podMac && n.permanent), 'host: pod IP → veth0 MAC'));
      state(w.p, (rt) => {
        for (const hip of [nic.hostV4, '10.96.99.1']) {
          assert.ok(rt.neighs('veth0', 4).some((n) => n.ip === hip && n.mac === hostMac && n.permanent), `pod: ${hip} → host veth MAC`);
        }
      });
      // Pod routes: host IPs on-link via veth0, hijacked subnets via the host IP; host route back.
      state(w.p, (rt) => {
        const main = rt.routes({ family: 4, table: 254 });
        assert.ok(main.some((r) => r.dst === `${nic.hostV4}/32` && r.dev === 'veth0' && r.scope === 'link'));
        assert.ok(main.some((r) => r.dst === '10.96.99.1/32' && r.dev === 'veth0'));
        for (const dst of ['10.244.0.0/16', '10.96.0.0/16']) {
          assert.ok(main.some((r) => r.dst === dst && r.dev === 'veth0' && r.gw === nic.hostV4), `pod route ${dst} via ${nic.hostV4}`);
        }
        // IPv4-only pod: no IPv6 hijack routes.
        assert.equal(rt.routes({ family: 6 }).filter((r) => r.dev === 'veth0' && r.gw !== undefined).length, 0);
      });
      state(w.h, (rt) => assert.ok(rt.routes({ family: 4, table: 254 }).some((r) => r.dst === `${nic.v4}/32` && r.dev === hv)));
      // rp_filter: loose (2, the default) in the pod and on the host end only.
      const podRp = withNetns(NetNs.open(w.p), () => readSysctl('net.ipv4.conf.veth0.rp_filter'));
      assert.equal(podRp, '2');
      assert.equal(execFileSync('ip', ['netns', 'exec', w.h, 'sysctl', '-n', `net.ipv4.conf.${hv}.rp_filter`], { encoding: 'utf8' }).trim(), '2');
      assert.equal(execFileSync('ip', ['netns', 'exec', w.h, 'sysctl', '-n', 'net.ipv4.conf.hm0.rp_filter'], { encoding: 'utf8' }).trim(), '0',
        'other host interfaces are left alone');

      // Traffic: pod → its host, pod → a hijacked service subnet through the host, and the lan still works.
      assert.ok(ping(w.p, nic.hostV4), 'pod → host IP through veth0');
      assert.ok(ping(w.p, '10.96.99.10'), 'pod → service through the host');
      assert.ok(ping(w.p, '192.168.77.1'), 'pod → lan through macvlan');
      assert.ok(ping(w.s, nic.v4), 'service → pod (reply path through the host veth)');

      if (version !== '0.3.0' && version !== '0.3.1') {
        await check(w, a, id, main);
        // CHECK notices a missing piece.
        ip('-n', w.p, 'route', 'del', '10.96.0.0/16');
        await rejectsWith(execPlugin(vethStdin(a, a.main.name, main), 'CHECK', invocation(w, a, id)), 101, /10\.96\.0\.0\/16 via 10\.1\.0\.1 dev veth0 missing/);
      }
      // A repeated ADD repairs what is missing and adds nothing twice.
      await execPlugin(vethStdin(a, a.main.name, main), 'ADD', invocation(w, a, id));
      const before = counts(w);
      await execPlugin(vethStdin(a, a.main.name, main), 'ADD', invocation(w, a, id));
      assert.equal(counts(w), before, 'repeated ADD changed kernel state');
      if (version !== '0.3.0' && version !== '0.3.1') await check(w, a, id, main);

      await del(w, a, id, main);
      assert.equal(state(w.h, (rt) => rt.link(hv)), undefined, 'DEL removes the host veth');
      assert.equal(state(w.h, (rt) => rt.routes({ family: 4 }).some((r) => r.dst === `${nic.v4}/32`)), false, 'and the host route');
      await del(w, a, id, main); // again: already gone is success
      // DEL after the pod's netns is gone also succeeds.
      deleteNamedNetns(w.p);
      await execPlugin(vethStdin(a, a.main.name, main), 'DEL', invocation(w, a, id));
    } finally {
      w.cleanup();
    }
  });
}

test('two and three NICs (eth0, net9, net10): per-NIC tables 109/110, default routes migrated, replies leave by the NIC they came in on', async () => {
  const w = world('m3', 3);
  try {
    const id = newId();
    // NIC names chosen so that string order (net10 < net9) and number order differ: the upstream bug.
    w.nics[1]!.ifname = 'net9';
    w.nics[2]!.ifname = 'net10';
    const atts = [0, 1, 2].map((k) => attachment(w, k, '1.0.0'));
    const mains: CniResult[] = [];
    for (const a of atts) mains.push((await add(w, a, id)).main);

    state(w.p, (rt) => {
      for (const [nic, table] of [[w.nics[1]!, 109], [w.nics[2]!, 110]] as const) {
        const t = rt.routes({ family: 4, table });
        assert.ok(t.some((r) => r.dst === 'default' && r.dev === nic.ifname && r.gw === nic.gwV4), `table ${table}: default via ${nic.gwV4} dev ${nic.ifname}`);
        assert.ok(t.some((r) => r.dst === '10.96.0.0/16' && r.dev === 'veth0' && r.gw === nic.hostV4), `table ${table}: service via host`);
        assert.ok(t.some((r) => r.dst === `${nic.hostV4}/32` && r.dev === 'veth0'));
        assert.ok(rt.rules(4).some((r) => r.from === `${nic.v4}/32` && r.table === table), `rule from ${nic.v4} lookup ${table}`);
      }
      // eth0 (first by NIC order) keeps the main default route; nothing else is in main.
      const defaults = rt.routes({ family: 4, table: 254 }).filter((r) => r.dst === 'default');
      assert.deepEqual(defaults.map((r) => r.dev), ['eth0']);
    });
    withNetns(NetNs.open(w.p), () => assert.equal(readSysctl('net.ipv4.conf.net10.rp_filter'), '2'));

    // Requests from a remote address to each NIC: the lan's strict rp_filter drops any reply
    // that comes back through another NIC, so each ping proves that NIC's reply path.
    for (const nic of w.nics) assert.ok(ping(w.l, nic.v4, '-I', '192.168.77.1'), `remote → ${nic.ifname} (${nic.v4}) and back`);
    // The route the pod picks for replies from each NIC's address.
    for (const nic of w.nics) {
      const out = execFileSync('ip', ['-n', w.p, 'route', 'get', '192.168.77.1', 'from', nic.v4], { encoding: 'utf8' });
      assert.match(out, new RegExp(`dev ${nic.ifname} `), out);
    }
    // Host and service from every NIC's address go through veth0.
    for (const nic of w.nics) {
      assert.ok(ping(w.p, '10.96.99.10', '-I', nic.v4), `service from ${nic.ifname}`);
      assert.ok(ping(w.p, nic.hostV4, '-I', nic.v4), `host from ${nic.ifname}`);
    }
    for (const [k, a] of atts.entries()) await check(w, a, id, mains[k]!);

    // Repeated ADD of a later NIC adds nothing twice.
    const before = counts(w);
    await execPlugin(vethStdin(atts[2]!, atts[2]!.main.name, mains[2]), 'ADD', invocation(w, atts[2]!, id));
    assert.equal(counts(w), before);

    // DEL of a later NIC removes its rule and table and keeps the pod's veth; DEL of eth0 removes the host end.
    await del(w, atts[2]!, id, mains[2]);
    state(w.p, (rt) => {
      assert.equal(rt.routes({ family: 4, table: 110 }).length, 0);
      assert.equal(rt.rules(4).some((r) => r.table === 110), false);
      assert.ok(rt.link('veth0'));
    });
    assert.equal(state(w.h, (rt) => rt.routes({ family: 4 }).some((r) => r.dst === `${w.nics[2]!.v4}/32`)), false);
    assert.ok(ping(w.p, '10.96.99.10'), 'eth0 still reaches the service');
    await del(w, atts[1]!, id, mains[1]);
    await del(w, atts[0]!, id, mains[0]);
    assert.equal(state(w.h, (rt) => rt.link(hostVeth(id))), undefined);
  } finally {
    w.cleanup();
  }
});

test('migrate_route 0 leaves default routes alone; 1 moves even the main plugin\'s', async () => {
  const w = world('mr', 2);
  try {
    const id = newId();
    await add(w, attachment(w, 0, '1.0.0'), id);
    const a1 = attachment(w, 1, '1.0.0', { veth: { migrate_route: 0 } });
    const { main } = await add(w, a1, id);
    state(w.p, (rt) => {
      assert.equal(rt.routes({ family: 4, table: 101 }).some((r) => r.dst === 'default'), false, 'no default in table 101 with migrate_route 0');
      assert.ok(rt.routes({ family: 4, table: 101 }).some((r) => r.dst === '10.96.0.0/16'), 'hijack routes still in the NIC table');
    });
    await check(w, a1, id, main);
    const a1b = { ...a1, veth: vethConf(w, { migrate_route: 1 }) };
    await execPlugin(vethStdin(a1b, a1b.main.name, main), 'ADD', invocation(w, a1b, id));
    state(w.p, (rt) => assert.ok(rt.routes({ family: 4, table: 101 }).some((r) => r.dst === 'default' && r.dev === 'net1')));
    await check(w, a1b, id, main);
  } finally {
    w.cleanup();
  }
});

test('dual-stack: IPv6 enabled in the pod, v6 neighbours and routes, v6 traffic to host and service', async () => {
  const w = world('ds', 2);
  try {
    const id = newId();
    const a0 = attachment(w, 0, '1.0.0', { dual: true });
    const a1 = attachment(w, 1, '1.0.0', { dual: true });
    const { main: m0 } = await add(w, a0, id);
    const { main: m1 } = await add(w, a1, id);
    const hv = hostVeth(id);
    const hostMac = state(w.h, (rt) => rt.link(hv)!.mac);
    const nic = w.nics[0]!;
    withNetns(NetNs.open(w.p), () => {
      assert.equal(readSysctl('net.ipv6.conf.all.disable_ipv6'), '0');
      assert.equal(readSysctl('net.ipv6.conf.veth0.disable_ipv6'), '0');
    });
    state(w.p, (rt) => {
      assert.ok(rt.neighs('veth0', 6).some((n) => n.ip === nic.hostV6 && n.mac === hostMac && n.permanent));
      const main = rt.routes({ family: 6, table: 254 });
      assert.ok(main.some((r) => r.dst === 'fd96::/64' && r.gw === nic.hostV6 && r.dev === 'veth0'));
      assert.ok(main.some((r) => r.dst === `${nic.hostV6}/128` && r.dev === 'veth0'));
      // net1: v6 default in table 101, none left in main (upstream copied ::/0 but left it in main).
      assert.ok(rt.routes({ family: 6, table: 101 }).some((r) => r.dst === '::/0' && r.dev === 'net1'));
      assert.equal(main.some((r) => r.dst === '::/0' && r.dev === 'net1'), false);
      assert.ok(rt.rules(6).some((r) => r.from === `${w.nics[1]!.v6}/128` && r.table === 101));
    });
    state(w.h, (rt) => assert.ok(rt.routes({ family: 6, table: 254 }).some((r) => r.dst === `${nic.v6}/128` && r.dev === hv)));
    assert.ok(ping(w.p, nic.hostV6), 'pod → host over IPv6');
    assert.ok(ping(w.p, 'fd96::10'), 'pod → service over IPv6 through the host');
    assert.ok(ping(w.p, '10.96.99.10'), 'and over IPv4');
    assert.ok(ping(w.l, w.nics[1]!.v6, '-I', 'fd01::fe'), 'lan → net1 over IPv6 and back');
    await check(w, a0, id, m0);
    await check(w, a1, id, m1);
    await del(w, a1, id, m1);
    await del(w, a0, id, m0);
    assert.equal(state(w.h, (rt) => rt.link(hv)), undefined);
  } finally {
    w.cleanup();
  }
});

test('an ADD that fails half-way leaves nothing behind (IPv6 pod, node without IPv6)', async () => {
  const w = world('rb', 1, { hostV6: false });
  try {
    const id = newId();
    const a = attachment(w, 0, '1.0.0', { dual: true });
    const inv = invocation(w, a, id);
    const main = await addNetworkList(a.main, inv);
    const before = counts(w);
    await rejectsWith(execPlugin(vethStdin(a, a.main.name, main), 'ADD', inv), 103, /no usable IPv6 address/);
    assert.equal(state(w.p, (rt) => rt.link('veth0')), undefined, 'veth0 was removed');
    assert.equal(state(w.h, (rt) => rt.link(hostVeth(id))), undefined, 'the host end was removed');
    assert.equal(counts(w), before, 'kernel state is as before the failed ADD');
    assert.match(readFileSync(w.logFile, 'utf8'), /rolled back: delete veth/);
  } finally {
    w.cleanup();
  }
});

test('mac_prefix rewrites the pod MAC from its IPv4 address; ip_conflict refuses a taken address', async () => {
  const w = world('mc', 1);
  try {
    const id = newId();
    const a = attachment(w, 0, '1.0.0', { veth: { mac_prefix: '0a:1b', ip_conflict: { enabled: true, interval: '50ms', retries: 2 } } });
    const { result } = await add(w, a, id);
    assert.equal(state(w.p, (rt) => rt.link('eth0')!.mac), '0a:1b:0a:01:00:0a');
    assert.equal(result.interfaces.find((i) => i.name === 'eth0')?.mac, '0a:1b:0a:01:00:0a');

    // Another pod whose IPAM hands out an address the lan already uses.
    ip('-n', w.l, 'addr', 'add', '10.1.0.77/24', 'dev', 'lx0');
    createNamedNetns(`${w.p}2`);
    try {
      const b = attachment(w, 0, '1.0.0', { veth: { ip_conflict: { enabled: true, interval: '100ms', retries: 2 } } });
      const plugin = b.main.plugins[0]!;
      (plugin['ipam'] as { ranges: unknown }).ranges = [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.77', rangeEnd: '10.1.0.77', gateway: '10.1.0.254' }]];
      const inv = { ...invocation(w, b, newId()), netns: `/var/run/netns/${w.p}2` };
      const main = await addNetworkList(b.main, inv);
      await rejectsWith(execPlugin(vethStdin(b, b.main.name, main), 'ADD', inv), 102, /10\.1\.0\.77 \(eth0\) is already in use/);
    } finally {
      deleteNamedNetns(`${w.p}2`);
    }
  } finally {
    w.cleanup();
  }
});

test('skip_call passes prevResult through untouched; logs go to the file, never to stdout', async () => {
  const w = world('sk', 1);
  try {
    const id = newId();
    const a = attachment(w, 0, '1.0.0', { veth: { skip_call: true } });
    const { main, raw } = await add(w, a, id);
    assert.deepEqual(raw, formatResult(main, '1.0.0'));
    assert.equal(state(w.p, (rt) => rt.link('veth0')), undefined);
    assert.match(readFileSync(w.logFile, 'utf8'), /skip_call is set/);
  } finally {
    w.cleanup();
  }
});

test('bad config is refused with a CNI error naming the key, before anything changes', async () => {
  const w = world('bc', 1);
  try {
    const a = attachment(w, 0, '1.0.0');
    const inv = invocation(w, a, newId());
    const main = await addNetworkList(a.main, inv);
    const before = counts(w);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ overlay_hijack_subnet: undefined }, /"overlay_hijack_subnet": is required/],
      [{ service_hijack_subnet: [] }, /"service_hijack_subnet": must not be empty/],
      [{ service_hijack_subnet: ['10.96.0.0/12', '10.0.0.0/33'] }, /"service_hijack_subnet\[1\]": "10\.0\.0\.0\/33" is not a CIDR/],
      [{ additional_hijack_subnet: ['nope'] }, /"additional_hijack_subnet\[0\]"/],
      [{ rp_filter: { value: 3 } }, /"rp_filter\.value": must be 0 \(off\), 1 \(strict\) or 2 \(loose\), got 3/],
      [{ migrate_route: 2 }, /"migrate_route": must be -1/],
    ];
    for (const [extra, re] of cases) {
      const b = { ...a, veth: vethConf(w, extra) };
      if ('overlay_hijack_subnet' in extra && extra['overlay_hijack_subnet'] === undefined) delete b.veth['overlay_hijack_subnet'];
      await rejectsWith(execPlugin(vethStdin(b, b.main.name, main), 'ADD', inv), 7, re);
    }
    // Not chained: no prevResult.
    await rejectsWith(execPlugin(vethStdin(a, a.main.name), 'ADD', inv), 7, /prevResult is missing/);
    assert.equal(counts(w), before, 'refused ADDs changed nothing');
  } finally {
    w.cleanup();
  }
});
