// meshnetd's settings: flags over upstream's environment; every error names the flag or variable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDaemonConfig, type DaemonConfig } from '../../src/daemon/config';

const parse = (argv: string[], env: Record<string, string> = {}) => parseDaemonConfig(argv, env) as DaemonConfig;

test('logs are logfmt at level info unless a flag or LOG_FORMAT/LOG_LEVEL says otherwise', () => {
  assert.deepEqual([parse([]).logFormat, parse([]).logLevel], ['logfmt', 'info']);
  const c = parse(['--log-level', 'debug'], { LOG_FORMAT: 'json', LOG_LEVEL: 'warn' });
  assert.deepEqual([c.logFormat, c.logLevel], ['json', 'debug']);
});

test('a bad log setting is refused naming the flag or the variable', () => {
  assert.throws(() => parse(['--log-format', 'text']), { code: 'InvalidConfig', message: '--log-format: must be logfmt or json, got "text"' });
  assert.throws(() => parse([], { LOG_LEVEL: 'verbose' }), { code: 'InvalidConfig', message: 'LOG_LEVEL: must be one of debug, info, warn, error, got "verbose"' });
});

test('--version is recognised before anything else is checked', () => {
  assert.equal(parseDaemonConfig(['--version', '--grpc-port', 'x'], {}), 'version');
});

test('in a pod the health port (probes and /metrics) defaults to 51112; elsewhere it is off', () => {
  assert.equal(parse([], { KUBERNETES_SERVICE_HOST: '10.96.0.1' }).healthPort, 51112);
  assert.equal(parse([]).healthPort, 0);
});

test('mTLS between daemons is off unless --peer-tls says permit or require, which need all three PEM files', () => {
  assert.deepEqual(parse([]).peerTls, { mode: 'off' });
  assert.deepEqual(parse(['--peer-tls', 'require', '--tls-cert', '/c', '--tls-key', '/k', '--tls-ca', '/ca']).peerTls, { mode: 'require', cert: '/c', key: '/k', ca: '/ca' });
  assert.throws(() => parse(['--peer-tls', 'strict']), { code: 'InvalidConfig', message: '--peer-tls: must be off, permit, require, got "strict"' });
  assert.throws(() => parse(['--peer-tls', 'permit', '--tls-cert', '/c', '--tls-key', '/k']), { message: '--peer-tls permit: --tls-ca is missing' });
  assert.throws(() => parse(['--tls-cert', '/c']), { message: '--tls-cert: needs --peer-tls permit or require' });
});

test('--mtu sets the MTU of links that set none; outside 1280..65000 it is refused naming the flag', () => {
  assert.equal(parse([]).mtu, undefined);
  assert.equal(parse(['--mtu', '9000']).mtu, 9000);
  assert.throws(() => parse(['--mtu', '9k']), { code: 'InvalidConfig', message: '--mtu: must be an integer from 1280 to 65000, got "9k"' });
});
