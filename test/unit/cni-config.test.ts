import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfList, parseNetConf } from '../../src/cni/config';
import { CniError, ErrorCode } from '../../src/cni/errors';
import { CHAINED_VERSIONS, LEGACY_VERSIONS } from '../../src/cni/versions';

function expectCniError(fn: () => unknown, code: number, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CniError, `expected CniError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('parseNetConf', () => {
  for (const version of LEGACY_VERSIONS) {
    it(`${version}: parses name, type and its own keys (a single plugin: no chain, no prevResult)`, () => {
      const conf = parseNetConf(JSON.stringify({ cniVersion: version, name: 'my_network', type: 'meshnet', etcd_host: '10.97.209.1' }));
      assert.deepEqual([conf.cniVersion, conf.name, conf.type, conf.raw['etcd_host'], conf.prevResult], [version, 'my_network', 'meshnet', '10.97.209.1', undefined]);
    });
  }

  for (const version of CHAINED_VERSIONS) {
    it(`${version}: parses name, type, prevResult and runtimeConfig`, () => {
      const conf = parseNetConf(JSON.stringify({
        cniVersion: version,
        name: 'lab',
        type: 'meshnet',
        custom: 1,
        runtimeConfig: { mac: '02:00:00:00:00:01' },
        prevResult: { cniVersion: version, ips: [{ address: '10.0.0.2/24' }] },
      }));
      assert.equal(conf.cniVersion, version);
      assert.equal(conf.name, 'lab');
      assert.equal(conf.type, 'meshnet');
      assert.deepEqual(conf.prevResult?.ips, [{ address: '10.0.0.2/24' }]);
      assert.deepEqual(conf.runtimeConfig, { mac: '02:00:00:00:00:01' });
      assert.equal(conf.raw['custom'], 1);
    });
  }

  const cases: Array<[string, string, number, RegExp]> = [
    ['malformed JSON', '{"cniVersion": ', ErrorCode.DecodeFailure, /failed to decode network configuration: .*JSON/],
    ['not an object', '[1]', ErrorCode.DecodeFailure, /must be a JSON object/],
    ['missing cniVersion', '{"name":"n","type":"t"}', ErrorCode.IncompatibleVersion, /missing cniVersion/],
    ['unknown cniVersion', '{"cniVersion":"0.5.0","name":"n","type":"t"}', ErrorCode.IncompatibleVersion, /"0\.5\.0" is not supported; supported versions: 0\.1\.0, 0\.2\.0, 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0/],
    ['missing name', '{"cniVersion":"1.0.0","type":"t"}', ErrorCode.InvalidNetworkConfig, /name must be a non-empty string/],
    ['bad name', '{"cniVersion":"1.0.0","name":"a b","type":"t"}', ErrorCode.InvalidNetworkConfig, /name "a b" must start/],
    ['missing type', '{"cniVersion":"1.0.0","name":"n"}', ErrorCode.InvalidNetworkConfig, /type must be a non-empty string/],
    ['runtimeConfig not an object', '{"cniVersion":"1.0.0","name":"n","type":"t","runtimeConfig":[]}', ErrorCode.InvalidNetworkConfig, /runtimeConfig must be an object/],
    ['invalid CIDR in prevResult', '{"cniVersion":"1.0.0","name":"n","type":"t","prevResult":{"ips":[{"address":"10.0.0.1/8"},{"address":"10.0.0.1"}]}}', ErrorCode.DecodeFailure, /prevResult\.ips\[1\]\.address: "10\.0\.0\.1" is not a CIDR/],
  ];
  for (const [name, stdin, code, pattern] of cases) {
    it(`${name} → code ${code}`, () => expectCniError(() => parseNetConf(stdin), code, pattern));
  }
});

describe('parseConfList', () => {
  const list = {
    cniVersion: '1.0.0',
    name: 'lab',
    disableCheck: true,
    plugins: [{ type: 'bridge' }, { type: 'meshnet', x: 1 }],
  };
  it('parses a list from text or a decoded value', () => {
    for (const input of [JSON.stringify(list), list]) {
      const l = parseConfList(input);
      assert.equal(l.cniVersion, '1.0.0');
      assert.equal(l.name, 'lab');
      assert.equal(l.disableCheck, true);
      assert.deepEqual(l.plugins.map((p) => p['type']), ['bridge', 'meshnet']);
    }
  });
  it('picks the highest supported entry of cniVersions', () => {
    assert.equal(parseConfList({ ...list, cniVersions: ['0.4.0', '1.1.0', '9.9.9'] }).cniVersion, '1.1.0');
    expectCniError(() => parseConfList({ ...list, cniVersions: ['9.9.9'] }), ErrorCode.IncompatibleVersion, /cniVersions \["9\.9\.9"\]/);
  });
  it('names the plugin whose type is missing or a path', () => {
    expectCniError(() => parseConfList({ ...list, plugins: [{ type: 'a' }, { type: 'b' }, { name: 'x' }] }), ErrorCode.InvalidNetworkConfig, /plugins\[2\]\.type/);
    expectCniError(() => parseConfList({ ...list, plugins: [{ type: '../../bin/sh' }] }), ErrorCode.InvalidNetworkConfig, /plugins\[0\]\.type/);
  });
  it('rejects an empty plugin list, a missing version and malformed JSON', () => {
    expectCniError(() => parseConfList({ ...list, plugins: [] }), ErrorCode.InvalidNetworkConfig, /plugins must be a non-empty array/);
    expectCniError(() => parseConfList({ name: 'lab', plugins: [{ type: 'a' }] }), ErrorCode.IncompatibleVersion, /missing cniVersion/);
    expectCniError(() => parseConfList('{'), ErrorCode.DecodeFailure, /failed to decode/);
  });
});
