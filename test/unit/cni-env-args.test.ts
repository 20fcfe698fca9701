import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCniArgs, parseCniArgs } from '../../src/cni/args';
import { parseEnv, requireNetnsPath } from '../../src/cni/env';
import { CniError, ErrorCode } from '../../src/cni/errors';

function expectEnvError(fn: () => unknown, variable: string, detailsPattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CniError, `expected CniError, got ${String(e)}`);
    assert.equal(e.code, ErrorCode.InvalidEnvironment);
    assert.ok(e.msg.includes(variable) && e.details.includes(variable), `error should name ${variable}: ${e.message}`);
    if (detailsPattern) assert.match(e.details, detailsPattern);
    return true;
  });
}

const addEnv = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'abc123',
  CNI_NETNS: '/var/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin::/usr/libexec/cni',
  CNI_ARGS: 'K8S_POD_NAME=web;K8S_POD_NAMESPACE=default',
};

describe('parseEnv', () => {
  it('parses a full ADD environment', () => {
    const env = parseEnv(addEnv);
    assert.equal(env.command, 'ADD');
    assert.equal(env.containerId, 'abc123');
    assert.equal(env.netns, '/var/run/netns/x');
    assert.equal(env.ifname, 'eth0');
    assert.deepEqual(env.path, ['/opt/cni/bin', '/usr/libexec/cni']);
    assert.equal(env.args.K8S_POD_NAME, 'web');
    assert.equal(env.argsRaw, addEnv.CNI_ARGS);
  });

  const required: Array<[string, string[]]> = [
    ['ADD', ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH']],
    ['CHECK', ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH']],
    ['DEL', ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH']],
    ['STATUS', ['CNI_PATH']],
    ['GC', ['CNI_PATH']],
  ];
  for (const [command, vars] of required) {
    for (const v of vars) {
      it(`${command} without ${v} → InvalidEnvironment naming ${v}`, () => {
        expectEnvError(() => parseEnv({ ...addEnv, CNI_COMMAND: command, [v]: undefined }), v, /is required/);
      });
    }
  }

  it('DEL accepts a missing CNI_NETNS; VERSION needs nothing else', () => {
    assert.equal(parseEnv({ ...addEnv, CNI_COMMAND: 'DEL', CNI_NETNS: undefined }).netns, '');
    assert.equal(parseEnv({ CNI_COMMAND: 'VERSION', CNI_ARGS: 'garbage' }).command, 'VERSION');
  });

  it('missing or unknown CNI_COMMAND names CNI_COMMAND', () => {
    expectEnvError(() => parseEnv({ ...addEnv, CNI_COMMAND: undefined }), 'CNI_COMMAND');
    expectEnvError(() => parseEnv({ ...addEnv, CNI_COMMAND: 'add' }), 'CNI_COMMAND', /"add" is not one of/);
  });

  it('accepts a 15-byte ifname and rejects a 16-byte one', () => {
    assert.equal(parseEnv({ ...addEnv, CNI_IFNAME: 'a'.repeat(15) }).ifname, 'a'.repeat(15));
    expectEnvError(() => parseEnv({ ...addEnv, CNI_IFNAME: 'a'.repeat(16) }), 'CNI_IFNAME', /16 bytes/);
    // Multi-byte characters count in bytes, as the kernel does.
    expectEnvError(() => parseEnv({ ...addEnv, CNI_IFNAME: 'é'.repeat(8) }), 'CNI_IFNAME', /16 bytes/);
  });
  for (const bad of ['.', '..', 'eth/0', 'eth:0', 'eth 0', 'eth\t0', '']) {
    it(`rejects ifname ${JSON.stringify(bad)}`, () => expectEnvError(() => parseEnv({ ...addEnv, CNI_IFNAME: bad }), 'CNI_IFNAME'));
  }
  for (const bad of ['-abc', '_abc', 'ab c', 'ab/c', 'ab;c']) {
    it(`rejects container id ${JSON.stringify(bad)}`, () => {
      expectEnvError(() => parseEnv({ ...addEnv, CNI_CONTAINERID: bad }), 'CNI_CONTAINERID', new RegExp(JSON.stringify(bad).replace(/[/]/g, '\\/')));
    });
  }
  it('bad CNI_ARGS fails parseEnv with InvalidEnvironment naming CNI_ARGS', () => {
    expectEnvError(() => parseEnv({ ...addEnv, CNI_ARGS: 'K8S_POD_NAME' }), 'CNI_ARGS');
  });
});

describe('requireNetnsPath', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cni-netns-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('passes for an existing path and fails for ADD/CHECK naming CNI_NETNS and the path', () => {
    requireNetnsPath(dir, 'ADD');
    const missing = join(dir, 'gone');
    for (const cmd of ['ADD', 'CHECK'] as const) {
      expectEnvError(() => requireNetnsPath(missing, cmd), 'CNI_NETNS', /netns path ".*gone" does not exist/);
    }
  });
  it('DEL of a vanished netns is not an error', () => {
    requireNetnsPath(join(dir, 'gone'), 'DEL');
    requireNetnsPath('', 'DEL');
  });
});

describe('CNI_ARGS', () => {
  it('parses known keys and keeps values containing "="', () => {
    const a = parseCniArgs('K8S_POD_NAME=a;K8S_POD_NAMESPACE=b;K8S_POD_INFRA_CONTAINER_ID=c;K8S_POD_UID=x=y;');
    assert.deepEqual(a, { K8S_POD_NAME: 'a', K8S_POD_NAMESPACE: 'b', K8S_POD_INFRA_CONTAINER_ID: 'c', K8S_POD_UID: 'x=y', ignoreUnknown: false, other: {} });
  });
  it('empty or absent CNI_ARGS is no args', () => {
    assert.deepEqual(parseCniArgs(''), { ignoreUnknown: false, other: {} });
    assert.deepEqual(parseCniArgs(undefined), { ignoreUnknown: false, other: {} });
  });
  const bad: Array<[string, RegExp]> = [
    ['K8S_POD_NAME', /pair "K8S_POD_NAME" has no "="/],
    ['=value', /pair "=value" has an empty key/],
    ['FOO=bar', /key "FOO" is not known/],
    ['IgnoreUnknown=yes;FOO=bar', /IgnoreUnknown="yes" is not a boolean/],
    ['FOO=bar;IgnoreUnknown=0', /key "FOO" is not known/],
  ];
  for (const [input, pattern] of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => expectEnvError(() => parseCniArgs(input), 'CNI_ARGS', pattern));
  }
  for (const flag of ['1', 'true', 'True']) {
    it(`IgnoreUnknown=${flag} keeps unknown keys in other, wherever it appears`, () => {
      const a = parseCniArgs(`FOO=bar;IgnoreUnknown=${flag};K8S_POD_NAME=p`);
      assert.equal(a.ignoreUnknown, true);
      assert.deepEqual(a.other, { FOO: 'bar' });
      assert.equal(a.K8S_POD_NAME, 'p');
    });
  }
  it('plugin-specific keys can be declared known', () => {
    assert.deepEqual(parseCniArgs('MESHNET_NODE=n1', ['MESHNET_NODE']).other, { MESHNET_NODE: 'n1' });
  });
  it('formatCniArgs round-trips and refuses values that would not', () => {
    const rec = { K8S_POD_NAME: 'web', K8S_POD_UID: 'a=b' };
    assert.equal(formatCniArgs(rec), 'K8S_POD_NAME=web;K8S_POD_UID=a=b');
    const back = parseCniArgs(formatCniArgs(rec));
    assert.equal(back.K8S_POD_UID, 'a=b');
    expectEnvError(() => formatCniArgs({ K: 'a;b' }), 'CNI_ARGS');
    expectEnvError(() => formatCniArgs({ 'K=1': 'a' }), 'CNI_ARGS');
  });
});
