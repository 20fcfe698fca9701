import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CniError, ErrorCode } from '../../src/cni/errors';
import { isIP, parseCidr } from '../../src/cni/ip';
import { emptyResult, formatResult, parseResult } from '../../src/cni/result';
import type { CniResult } from '../../src/cni/types';
import { CHAINED_VERSIONS, LEGACY_VERSIONS, versionAtLeast } from '../../src/cni/versions';

// A result using every field, including the 1.1.0-only ones.
function fullResult(): CniResult {
  return {
    cniVersion: '1.1.0',
    interfaces: [
      { name: 'eth0', mac: '02:00:00:00:00:01', mtu: 9000, sandbox: '/var/run/netns/a', socketPath: '/run/s.sock', pciID: '0000:00:1f.6' },
      { name: 'veth1', mac: '02:00:00:00:00:02' },
    ],
    ips: [
      { address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 },
      { address: 'fd00::2/64', interface: 0 },
    ],
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 }],
    dns: { nameservers: ['10.0.0.53'], domain: 'lab', search: ['lab'], options: ['ndots:2'] },
  };
}

function expectCniError(fn: () => unknown, code: number, detailsPattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CniError, `expected CniError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.details, detailsPattern);
    return true;
  });
}

describe('ip helpers', () => {
  it('parses IPv4 and IPv6 CIDRs keeping host bits', () => {
    assert.deepEqual(parseCidr('10.0.0.2/24'), { family: 4, address: '10.0.0.2', prefix: 24 });
    assert.deepEqual(parseCidr('fd00::1/128'), { family: 6, address: 'fd00::1', prefix: 128 });
  });
  for (const bad of ['10.0.0.2', '10.0.0.300/24', '10.0.0.2/33', 'fd00::1/129', '10.0.0.2/', '10.0.0.2/0x18', 'fe80::1%eth0/64']) {
    it(`rejects ${JSON.stringify(bad)} with a reason naming it`, () => {
      assert.throws(() => parseCidr(bad), (e: unknown) => e instanceof Error && e.message.includes(JSON.stringify(bad)));
    });
  }
  it('isIP accepts addresses but not CIDRs or zone ids', () => {
    assert.equal(isIP('192.168.1.1'), true);
    assert.equal(isIP('::1'), true);
    assert.equal(isIP('192.168.1.1/32'), false);
    assert.equal(isIP('fe80::1%eth0'), false);
  });
});

describe('formatResult / parseResult for every version with interfaces, ips and routes (0.3.0 and newer)', () => {
  for (const version of CHAINED_VERSIONS) {
    const pre1 = !versionAtLeast(version, '1.0.0');
    const pre11 = !versionAtLeast(version, '1.1.0');

    it(`${version}: sets cniVersion, ip versions only before 1.0.0, 1.1.0 fields only from 1.1.0`, () => {
      const out = formatResult(fullResult(), version);
      assert.equal(out['cniVersion'], version);
      const ips = out['ips'] as Array<Record<string, unknown>>;
      assert.deepEqual(ips.map((i) => i['version']), pre1 ? ['4', '6'] : [undefined, undefined]);
      const iface = (out['interfaces'] as Array<Record<string, unknown>>)[0];
      assert.ok(iface);
      assert.equal(iface['sandbox'], '/var/run/netns/a');
      for (const key of ['mtu', 'socketPath', 'pciID']) assert.equal(key in iface, !pre11, `interface.${key}`);
      const route = (out['routes'] as Array<Record<string, unknown>>)[0];
      assert.ok(route);
      assert.equal(route['gw'], '10.0.0.1');
      for (const key of ['mtu', 'advmss', 'priority', 'table', 'scope']) assert.equal(key in route, !pre11, `route.${key}`);
      assert.deepEqual(out['dns'], { nameservers: ['10.0.0.53'], domain: 'lab', search: ['lab'], options: ['ndots:2'] });
    });

    it(`${version}: the formatted result parses back to the same addresses and routes`, () => {
      const wire = JSON.parse(JSON.stringify(formatResult(fullResult(), version))) as unknown;
      const back = parseResult(wire, 'result');
      assert.equal(back.cniVersion, version);
      assert.deepEqual(back.ips, fullResult().ips);
      assert.deepEqual(back.routes.map((r) => r.dst), ['0.0.0.0/0']);
      assert.equal(back.interfaces[0]?.mtu, pre11 ? undefined : 9000);
    });

    it(`${version}: an empty result has cniVersion and an empty dns only`, () => {
      assert.deepEqual(formatResult(emptyResult(version), version), { cniVersion: version, dns: {} });
    });

    it(`${version}: an invalid CIDR is reported with its field path`, () => {
      const wire = formatResult(fullResult(), version);
      const ips = wire['ips'] as Array<Record<string, unknown>>;
      ips[1] = { ...ips[1], address: 'fd00::2/200' };
      expectCniError(() => parseResult(wire, 'prevResult'), ErrorCode.DecodeFailure, /^prevResult\.ips\[1\]\.address: .*200/);
    });
  }

  it('converts a 0.3.1 result with ips[].version to 1.0.0 without it, and back', () => {
    const v031 = {
      cniVersion: '0.3.1',
      interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/x' }],
      ips: [{ version: '4', address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: {},
    };
    const as100 = formatResult(parseResult(v031, 'prevResult'), '1.0.0');
    assert.deepEqual(as100, {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/x' }],
      ips: [{ interface: 0, address: '10.1.0.5/16', gateway: '10.1.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: {},
    });
    const back = formatResult(parseResult(as100, 'prevResult'), '0.3.1');
    assert.deepEqual(back, { ...v031, ips: [{ version: '4', interface: 0, address: '10.1.0.5/16', gateway: '10.1.0.1' }] });
  });
});

describe('the legacy results of 0.1.0 and 0.2.0 (ip4 and ip6 objects)', () => {
  for (const version of LEGACY_VERSIONS) {
    it(`${version}: the first IPv4 and IPv6 address become ip4 and ip6, each with its gateway and its family's routes; no interfaces`, () => {
      const r = fullResult();
      r.ips.push({ address: '10.9.0.2/24', interface: 1 });
      r.routes.push({ dst: 'fd00:1::/64', gw: 'fd00::1' });
      assert.deepEqual(formatResult(r, version), {
        cniVersion: version,
        ip4: { ip: '10.0.0.2/24', gateway: '10.0.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] },
        ip6: { ip: 'fd00::2/64', routes: [{ dst: 'fd00:1::/64', gw: 'fd00::1' }] },
        dns: { nameservers: ['10.0.0.53'], domain: 'lab', search: ['lab'], options: ['ndots:2'] },
      });
    });

    it(`${version}: a legacy result parses to ips without interfaces and one route list`, () => {
      const back = parseResult({
        cniVersion: version,
        ip4: { ip: '10.1.0.5/16', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0' }] },
        ip6: { ip: 'fd00::5/64', gateway: 'fd00::1' },
        dns: { nameservers: ['10.1.0.53'] },
      }, 'result');
      assert.deepEqual(back, {
        cniVersion: version, interfaces: [],
        ips: [{ address: '10.1.0.5/16', gateway: '10.1.0.1' }, { address: 'fd00::5/64', gateway: 'fd00::1' }],
        routes: [{ dst: '0.0.0.0/0' }], dns: { nameservers: ['10.1.0.53'] },
      });
    });

    it(`${version}: converts to 1.0.0 and back without losing an address or route`, () => {
      const legacy = { cniVersion: version, ip4: { ip: '10.1.0.5/16', gateway: '10.1.0.1', routes: [{ dst: '10.2.0.0/16', gw: '10.1.0.254' }] }, dns: {} };
      const as100 = formatResult(parseResult(legacy, 'prevResult'), '1.0.0');
      assert.deepEqual(as100, { cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/16', gateway: '10.1.0.1' }], routes: [{ dst: '10.2.0.0/16', gw: '10.1.0.254' }], dns: {} });
      assert.deepEqual(formatResult(parseResult(as100, 'prevResult'), version), legacy);
    });

    it(`${version}: an empty result is cniVersion and an empty dns`, () => {
      assert.deepEqual(formatResult(emptyResult(version), version), { cniVersion: version, dns: {} });
    });

    it(`${version}: a bad ip4 or ip6 is refused naming the field`, () => {
      expectCniError(() => parseResult({ cniVersion: version, ip4: { ip: 'fd00::5/64' } }, 'r'), ErrorCode.DecodeFailure, /^r\.ip4\.ip: "fd00::5\/64" is not an IPv4 address/);
      expectCniError(() => parseResult({ cniVersion: version, ip6: { ip: 'fd00::5/64', gateway: '10.0.0.1' } }, 'r'), ErrorCode.DecodeFailure, /^r\.ip6\.gateway: "10\.0\.0\.1" is not an IPv6 address/);
      expectCniError(() => parseResult({ cniVersion: version, ip4: { gateway: '10.0.0.1' } }, 'r'), ErrorCode.DecodeFailure, /^r\.ip4\.ip/);
    });
  }
});

describe('parseResult errors', () => {
  const base = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.2/24', interface: 0 }] };
  const cases: Array<[string, unknown, RegExp]> = [
    ['non-object', 'x', /^r: must be an object/],
    ['unknown cniVersion', { ...base, cniVersion: '0.5.0' }, /^r\.cniVersion: "0\.5\.0" is not a supported version/],
    ['interface without name', { ...base, interfaces: [{}] }, /^r\.interfaces\[0\]\.name: is required/],
    ['ip version contradicting the address', { ...base, ips: [{ version: '6', address: '10.0.0.2/24' }] }, /^r\.ips\[0\]\.version: "6" does not match IPv4/],
    ['interface index out of range', { ...base, ips: [{ address: '10.0.0.2/24', interface: 3 }] }, /^r\.ips\[0\]\.interface: index 3 is out of range/],
    ['gateway of the other family', { ...base, ips: [{ address: '10.0.0.2/24', gateway: 'fd00::1' }] }, /^r\.ips\[0\]\.gateway: IPv6 gateway/],
    ['route dst not a CIDR', { ...base, routes: [{ dst: 'default' }] }, /^r\.routes\[0\]\.dst: /],
    ['route gw not an IP', { ...base, routes: [{ dst: '0.0.0.0/0', gw: 'router' }] }, /^r\.routes\[0\]\.gw: "router" is not an IP/],
    ['negative mtu', { ...base, interfaces: [{ name: 'eth0', mtu: -1 }] }, /^r\.interfaces\[0\]\.mtu: must be a non-negative integer/],
    ['dns nameservers not strings', { ...base, dns: { nameservers: [1] } }, /^r\.dns\.nameservers\[0\]: must be a string/],
  ];
  for (const [name, input, pattern] of cases) {
    it(`${name} → DecodeFailure naming the field`, () => expectCniError(() => parseResult(input, 'r'), ErrorCode.DecodeFailure, pattern));
  }
  it('a result without cniVersion takes the default (prevResult injected without one)', () => {
    const { cniVersion: _omit, ...noVersion } = base;
    assert.equal(parseResult(noVersion, 'prevResult', '0.4.0').cniVersion, '0.4.0');
    expectCniError(() => parseResult(noVersion, 'prevResult'), ErrorCode.DecodeFailure, /prevResult\.cniVersion/);
  });
});
