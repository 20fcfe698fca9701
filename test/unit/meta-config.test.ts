// Config parsing of the veth and router plugins, the route-table rule and the small pure helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CniError } from '../../src/cni';
import { hijackSubnets, parseRouterConf, parseVethConf } from '../../src/chained/config';
import { compareNicNames, nicTable } from '../../src/chained/tables';
import { macFromPrefix } from '../../src/chained/mac';
import { contains, networkOf } from '../../src/chained/cidr';

const base = { overlay_hijack_subnet: ['10.244.0.0/16'], service_hijack_subnet: ['10.96.0.0/12'] };

function fails(fn: () => unknown, re: RegExp, code = 7): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CniError, String(e));
    assert.equal(e.code, code);
    assert.match(e.details, re);
    return true;
  });
}

test('defaults match upstream', () => {
  const c = parseVethConf(base);
  assert.equal(c.migrateRoute, -1);
  assert.equal(c.skipCall, false);
  assert.deepEqual(c.rpFilter, { setHost: true, value: 2 });
  assert.equal(c.log.file, '/var/log/meta-plugins/veth.log');
  assert.equal(c.log.level, 'debug');
  assert.deepEqual(c.additionalHijackSubnet, []);
  assert.equal(c.macPrefix, undefined);
  assert.equal(c.ipConflict, undefined);
  const r = parseRouterConf(base);
  assert.equal(r.overlayInterface, 'eth0');
  assert.equal(r.hostRuleTable, 500);
  assert.equal(r.sriov, false);
  assert.equal(r.log.file, '/var/log/meta-plugins/router.log');
});

test('required subnets: each named in its own error (upstream swapped the two messages)', () => {
  fails(() => parseVethConf({ service_hijack_subnet: ['10.96.0.0/12'] }), /^"overlay_hijack_subnet": is required/);
  fails(() => parseVethConf({ overlay_hijack_subnet: ['10.244.0.0/16'] }), /^"service_hijack_subnet": is required/);
  fails(() => parseVethConf({ ...base, overlay_hijack_subnet: [] }), /^"overlay_hijack_subnet": must not be empty/);
  fails(() => parseVethConf({ ...base, service_hijack_subnet: '10.96.0.0/12' }), /^"service_hijack_subnet": must be an array/);
});

test('a bad CIDR in any list names the list and the index', () => {
  fails(() => parseVethConf({ ...base, service_hijack_subnet: ['10.96.0.0/12', '10.0.0.0/33'] }),
    /^"service_hijack_subnet\[1\]": "10\.0\.0\.0\/33" is not a CIDR: prefix 33 is larger than 32 for IPv4$/);
  fails(() => parseVethConf({ ...base, overlay_hijack_subnet: ['10.244.0.0'] }), /^"overlay_hijack_subnet\[0\]": .*missing "\/prefix"/);
  // upstream did not validate additional_hijack_subnet at all
  fails(() => parseVethConf({ ...base, additional_hijack_subnet: ['x/8'] }), /^"additional_hijack_subnet\[0\]"/);
  fails(() => parseVethConf({ ...base, additional_hijack_subnet: [42] }), /^"additional_hijack_subnet\[0\]": must be a CIDR string, got 42/);
});

test('CIDRs are normalised to their network and de-duplicated; v4 and v6 split by family', () => {
  const c = parseVethConf({ ...base, service_hijack_subnet: ['10.96.1.7/12', '10.96.0.0/12', 'fd00:0::1/64'] });
  assert.deepEqual(c.serviceHijackSubnet.map((n) => `${n.ip}/${n.prefix}`), ['10.96.0.0/12', 'fd00::/64']);
  assert.deepEqual(hijackSubnets(c, 6).map((n) => n.ip), ['fd00::']);
  assert.deepEqual(hijackSubnets(c, 4).map((n) => `${n.ip}/${n.prefix}`), ['10.244.0.0/16', '10.96.0.0/12']);
});

test('rp_filter, migrate_route, booleans and log options are checked', () => {
  fails(() => parseVethConf({ ...base, rp_filter: { value: 3 } }), /^"rp_filter\.value": must be 0 \(off\), 1 \(strict\) or 2 \(loose\), got 3/);
  fails(() => parseVethConf({ ...base, rp_filter: 2 }), /^"rp_filter": must be an object/);
  fails(() => parseVethConf({ ...base, rp_filter: { set_host: 1 } }), /^"rp_filter\.set_host": must be true or false/);
  assert.deepEqual(parseVethConf({ ...base, rp_filter: { set_host: false } }).rpFilter, { setHost: false, value: 2 });
  assert.deepEqual(parseVethConf({ ...base, rp_filter: { value: 0 } }).rpFilter, { setHost: true, value: 0 });
  for (const bad of [2, -2, '1', 0.5, true]) fails(() => parseVethConf({ ...base, migrate_route: bad }), /^"migrate_route": must be -1/);
  for (const ok of [-1, 0, 1] as const) assert.equal(parseVethConf({ ...base, migrate_route: ok }).migrateRoute, ok);
  fails(() => parseVethConf({ ...base, skip_call: 'yes' }), /^"skip_call": must be true or false/);
  assert.equal(parseVethConf({ ...base, skip_call: 'true' }).skipCall, true);
  fails(() => parseVethConf({ ...base, log_options: { log_level: 'trace' } }), /^"log_options\.log_level": must be one of debug, info, warn, error/);
  fails(() => parseVethConf({ ...base, log_options: { log_file: 'rel/veth.log' } }), /^"log_options\.log_file": must be an absolute file path/);
  fails(() => parseVethConf({ ...base, log_options: { log_max_size: 0 } }), /^"log_options\.log_max_size": must be an integer from 1/);
  assert.equal(parseVethConf({ ...base, log_options: { log_level: 'INFO' } }).log.level, 'info');
});

test('mac_prefix, only_op_mac and ip_conflict', () => {
  assert.equal(parseVethConf({ ...base, mac_prefix: '0A:1b' }).macPrefix, '0a:1b');
  fails(() => parseVethConf({ ...base, mac_prefix: '0a1b' }), /^"mac_prefix": must be two hex bytes/);
  fails(() => parseVethConf({ ...base, mac_prefix: '01:00' }), /^"mac_prefix": .*multicast/);
  fails(() => parseVethConf({ ...base, only_op_mac: true }), /^"only_op_mac": is true but "mac_prefix" is not set/);
  assert.deepEqual(parseVethConf({ ...base, ip_conflict: { enabled: true, interval: '250ms', retries: 5 } }).ipConflict,
    { enabled: true, intervalMs: 250, retries: 5 });
  assert.equal(parseVethConf({ ...base, ip_conflict: { enabled: true, interval: '1s' } }).ipConflict?.intervalMs, 1000);
  fails(() => parseVethConf({ ...base, ip_conflict: { enabled: true, interval: 'soon' } }), /^"ip_conflict\.interval": must be a duration/);
  fails(() => parseVethConf({ ...base, ip_conflict: { retries: 0 } }), /^"ip_conflict\.retries": must be an integer from 1/);
});

test('router keys', () => {
  const r = parseRouterConf({ ...base, overlay_interface: 'eth1', host_rule_table: 600, sriov: true });
  assert.deepEqual([r.overlayInterface, r.hostRuleTable, r.sriov], ['eth1', 600, true]);
  fails(() => parseRouterConf({ ...base, overlay_interface: 'a/b' }), /^"overlay_interface": invalid interface name/);
  fails(() => parseRouterConf({ ...base, overlay_interface: 7 }), /^"overlay_interface": must be an interface name/);
  fails(() => parseRouterConf({ ...base, host_rule_table: 255 }), /^"host_rule_table": 255 is one of the kernel's own tables/);
  fails(() => parseRouterConf({ ...base, host_rule_table: -1 }), /^"host_rule_table": must be an integer/);
  fails(() => parseRouterConf({ ...base, sriov: 'no' }), /^"sriov": must be true or false/);
});

test('table rule: 100 + the trailing number, compared as a number (net10 after net9)', () => {
  assert.equal(nicTable('eth0'), 100);
  assert.equal(nicTable('net1'), 101);
  assert.equal(nicTable('net9'), 109);
  assert.equal(nicTable('net10'), 110);
  assert.equal(nicTable('net152'), 252);
  fails(() => nicTable('net153'), /CNI_IFNAME "net153": .*0 <= N <= 152/);
  fails(() => nicTable('eth', 'overlay_interface'), /^overlay_interface "eth": a NIC that gets its own route table/);
  const sorted = ['net10', 'net9', 'eth0', 'net1', 'net2'].sort(compareNicNames);
  assert.deepEqual(sorted, ['eth0', 'net1', 'net2', 'net9', 'net10']);
  assert.ok(compareNicNames('net', 'net1') < 0);
});

test('helpers: MAC from prefix and IPv4, CIDR network and containment', () => {
  assert.equal(macFromPrefix('0a:1b', '10.1.0.10'), '0a:1b:0a:01:00:0a');
  assert.equal(macFromPrefix('aa:bb', '192.168.255.1'), 'aa:bb:c0:a8:ff:01');
  assert.deepEqual(networkOf('10.1.2.3/16'), { family: 4, ip: '10.1.0.0', prefix: 16 });
  assert.deepEqual(networkOf('fd00:1:2:3::9/48'), { family: 6, ip: 'fd00:1:2::', prefix: 48 });
  assert.ok(contains('10.1.0.0/24', '10.1.0.200'));
  assert.ok(!contains('10.1.0.0/24', '10.1.1.1'));
  assert.ok(!contains('10.1.0.0/24', 'fd00::1'));
  assert.ok(contains('::/0', 'fd00::1'));
});
