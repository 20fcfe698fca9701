import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KernelError, type Rtnl } from '../../src/kernel/index';
import { tempNetns, cleanupAllNetns, sh, succeeds, type TempNetns } from '../helpers/netns';

// Two namespaces joined by a veth: a:eth0 10.77.0.1/24 fd77::1/64 <-> b:eth0 10.77.0.2/24 fd77::2/64
let a: TempNetns;
let b: TempNetns;
let ra: Rtnl;
let rb: Rtnl;

before(() => {
  a = tempNetns();
  b = tempNetns();
  ra = a.rtnl();
  rb = b.rtnl();
  ra.createVeth({ name: 'eth0', peerName: 'eth0', peerNs: b.ns });
  ra.setUp('eth0');
  rb.setUp('eth0');
});
after(cleanupAllNetns);

test('addresses v4 + v6: add, list, ping across the veth, delete', () => {
  ra.addAddr('eth0', '10.77.0.1/24');
  rb.addAddr('eth0', '10.77.0.2/24');
  ra.addAddr('eth0', 'fd77::1/64', { noDad: true });
  rb.addAddr('eth0', 'fd77::2/64', { noDad: true });
  const got = ra.addrs('eth0').filter((x) => !x.cidr.startsWith('fe80'));
  assert.deepEqual(got.map((x) => [x.dev, x.family, x.cidr]), [['eth0', 4, '10.77.0.1/24'], ['eth0', 6, 'fd77::1/64']]);
  assert.ok(ra.addrs().some((x) => x.dev === 'lo' && x.cidr === '127.0.0.1/8'));
  assert.match(sh('ip', ['-n', a.name, 'addr', 'show', 'dev', 'eth0']), /inet 10\.77\.0\.1\/24/);
  sh('ip', ['netns', 'exec', a.name, 'ping', '-c1', '-W2', '10.77.0.2']);
  sh('ip', ['netns', 'exec', a.name, 'ping', '-6', '-c1', '-W2', 'fd77::2']);
  assert.throws(() => ra.addAddr('eth0', '10.77.0.1/24'), (e: unknown) => e instanceof KernelError && e.code === 'EEXIST' && e.message.includes('10.77.0.1/24'));
  ra.addAddr('eth0', '10.77.0.1/24', { replace: true });
  ra.addAddr('eth0', '10.78.0.1/16');
  assert.equal(ra.delAddr('eth0', '10.78.0.1/16'), true);
  assert.equal(ra.delAddr('eth0', '10.78.0.1/16'), false);
  assert.equal(ra.delAddr('nope0', '10.78.0.1/16'), false);
  assert.throws(() => ra.addrs('nope0'), (e: unknown) => e instanceof KernelError && e.code === 'ENODEV');
});

test('routes: main + custom table, gateway, metric, src, replace, delete', () => {
  rb.addRoute({ dst: '10.90.0.0/16', gw: '10.77.0.1', table: 100 });
  rb.addRoute({ dst: '10.91.0.0/16', dev: 'eth0', metric: 50, src: '10.77.0.2' });
  rb.addRoute({ dst: 'default', gw: '10.77.0.1' });
  rb.addRoute({ dst: 'fd90::/64', gw: 'fd77::1', table: 1000 });
  rb.addRoute({ dst: '10.92.0.1', dev: 'eth0', scope: 'link' });

  const t100 = rb.routes({ table: 100 });
  assert.deepEqual(t100.map((r) => [r.family, r.dst, r.gw, r.dev, r.table]), [[4, '10.90.0.0/16', '10.77.0.1', 'eth0', 100]]);
  const main4 = rb.routes({ family: 4, table: 254 });
  const def = main4.find((r) => r.dst === 'default')!;
  assert.equal(def.gw, '10.77.0.1');
  assert.equal(def.scope, 'universe');
  const r91 = main4.find((r) => r.dst === '10.91.0.0/16')!;
  assert.equal(r91.metric, 50);
  assert.equal(r91.src, '10.77.0.2');
  assert.equal(r91.scope, 'link');
  assert.ok(main4.some((r) => r.dst === '10.92.0.1/32' && r.scope === 'link'));
  const v6 = rb.routes({ family: 6, table: 1000 });
  assert.deepEqual(v6.map((r) => [r.dst, r.gw, r.table]), [['fd90::/64', 'fd77::1', 1000]]);
  assert.match(sh('ip', ['-n', b.name, 'route', 'show', 'table', '100']), /10\.90\.0\.0\/16 via 10\.77\.0\.1 dev eth0/);
  assert.match(sh('ip', ['-n', b.name, '-6', 'route', 'show', 'table', '1000']), /fd90::\/64 via fd77::1 dev eth0/);

  // traffic follows the default route: b reaches a's secondary address through the gateway
  ra.addAddr('lo', '10.93.0.1/32');
  sh('ip', ['netns', 'exec', b.name, 'ping', '-c1', '-W2', '10.93.0.1']);

  assert.throws(() => rb.addRoute({ dst: '10.90.0.0/16', gw: '10.77.0.1', table: 100 }), (e: unknown) => e instanceof KernelError && e.code === 'EEXIST' && /table 100/.test(e.message));
  rb.addRoute({ dst: '10.90.0.0/16', gw: '10.77.0.1', table: 100, metric: 0, replace: true });
  assert.equal(rb.delRoute({ dst: '10.90.0.0/16', table: 100 }), true);
  assert.equal(rb.delRoute({ dst: '10.90.0.0/16', table: 100 }), false);
  assert.equal(rb.delRoute({ dst: 'fd90::/64', gw: 'fd77::1', table: 1000 }), true);
  assert.equal(rb.delRoute({ dst: 'default' }), true);
  assert.equal(rb.delRoute({ dst: '10.91.0.0/16', dev: 'nope0' }), false);
  assert.throws(() => rb.addRoute({ dst: '10.95.0.0/16', gw: '10.99.99.99' }), (e: unknown) => e instanceof KernelError && e.code === 'ENETUNREACH');
});

test('rules: add, list, delete (v4 and v6)', () => {
  rb.addRule({ priority: 1000, from: '10.77.0.0/24', table: 100 });
  rb.addRule({ priority: 1001, to: '10.80.0.0/16', table: 101, iif: 'eth0' });
  rb.addRule({ priority: 1002, from: 'fd77::/64', table: 102 });
  const v4 = rb.rules(4);
  assert.deepEqual(v4.find((r) => r.priority === 1000), { family: 4, priority: 1000, from: '10.77.0.0/24', table: 100 });
  assert.deepEqual(v4.find((r) => r.priority === 1001), { family: 4, priority: 1001, to: '10.80.0.0/16', table: 101, iif: 'eth0' });
  assert.ok(v4.some((r) => r.priority === 32766 && r.table === 254), 'default main rule is listed');
  assert.deepEqual(rb.rules(6).find((r) => r.priority === 1002), { family: 6, priority: 1002, from: 'fd77::/64', table: 102 });
  assert.match(sh('ip', ['-n', b.name, 'rule', 'show']), /1000:\s+from 10\.77\.0\.0\/24 lookup 100/);
  assert.throws(() => rb.addRule({ priority: 1000, from: '10.77.0.0/24', table: 100 }), (e: unknown) => e instanceof KernelError && e.code === 'EEXIST');
  assert.equal(rb.delRule({ priority: 1000, from: '10.77.0.0/24', table: 100 }), true);
  assert.equal(rb.delRule({ priority: 1000, from: '10.77.0.0/24', table: 100 }), false);
  assert.equal(rb.delRule({ priority: 1002, from: 'fd77::/64', table: 102 }), true);
  assert.throws(() => rb.addRule({ from: '10.0.0.0/8', to: 'fd00::/8', table: 5 }), /^Error: to:/);
});

test('permanent neighbours: add, list, replace, delete', () => {
  rb.addNeigh({ dev: 'eth0', ip: '10.77.0.50', mac: '02:00:00:00:00:50' });
  rb.addNeigh({ dev: 'eth0', ip: 'fd77::50', mac: '02:00:00:00:00:51' });
  const n = rb.neighs('eth0', 4).find((x) => x.ip === '10.77.0.50')!;
  assert.deepEqual({ ...n, state: undefined }, { dev: 'eth0', ifindex: rb.link('eth0')!.index, ip: '10.77.0.50', mac: '02:00:00:00:00:50', state: undefined, permanent: true });
  assert.ok(rb.neighs(undefined, 6).some((x) => x.ip === 'fd77::50' && x.permanent && x.mac === '02:00:00:00:00:51'));
  assert.match(sh('ip', ['-n', b.name, 'neigh', 'show', 'dev', 'eth0']), /10\.77\.0\.50 lladdr 02:00:00:00:00:50 PERMANENT/);
  assert.throws(() => rb.addNeigh({ dev: 'eth0', ip: '10.77.0.50', mac: '02:00:00:00:00:52' }), (e: unknown) => e instanceof KernelError && e.code === 'EEXIST');
  rb.addNeigh({ dev: 'eth0', ip: '10.77.0.50', mac: '02:00:00:00:00:52', replace: true });
  assert.equal(rb.neighs('eth0').find((x) => x.ip === '10.77.0.50')!.mac, '02:00:00:00:00:52');
  assert.equal(rb.delNeigh({ dev: 'eth0', ip: '10.77.0.50' }), true);
  assert.equal(rb.delNeigh({ dev: 'eth0', ip: '10.77.0.50' }), false);
  assert.equal(rb.delNeigh({ dev: 'nope0', ip: '10.77.0.50' }), false);
  assert.ok(succeeds('ip', ['-n', b.name, 'neigh', 'show']));
});
