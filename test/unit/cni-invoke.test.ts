// Runs the runtime side against real executables written into a temp dir: the chaining plugin is
// a small node script that logs what it received and appends an interface and an address to
// prevResult; the failing ones are shell scripts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfList } from '../../src/cni/config';
import { CniError, ErrorCode } from '../../src/cni/errors';
import {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  execPlugin,
  type ExecTrace,
  type Invocation,
  PluginExecError,
  pluginVersions,
} from '../../src/cni/invoke';
import type { CniResult } from '../../src/cni/types';
import { CHAINED_VERSIONS, versionAtLeast } from '../../src/cni/versions';

const CHAIN_PLUGIN = `#!${process.execPath}
const fs = require('fs');
const me = require('path').basename(__filename);
const cmd = process.env.CNI_COMMAND;
const conf = JSON.parse(fs.readFileSync(0, 'utf8'));
fs.appendFileSync(require('path').join(__dirname, '..', 'log.jsonl'), JSON.stringify({ plugin: me, cmd, conf, env: process.env }) + '\\n');
if (cmd === 'VERSION') {
  process.stdout.write(JSON.stringify({ cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0'] }));
} else if (cmd === 'ADD') {
  const prev = conf.prevResult || { cniVersion: conf.cniVersion, dns: {} };
  const interfaces = prev.interfaces || [];
  const ips = prev.ips || [];
  interfaces.push({ name: me + '0', sandbox: process.env.CNI_NETNS });
  const ip = { address: conf.addr, interface: interfaces.length - 1 };
  if (conf.cniVersion.startsWith('0.')) ip.version = '4';
  ips.push(ip);
  process.stdout.write(JSON.stringify({ ...prev, cniVersion: conf.cniVersion, interfaces, ips }));
}
`;

// A plugin built on our own skeleton with the real processIO, run as a separate process: proves
// the two halves of the library agree on the wire format. tsx (resolved from the cwd, the repo
// root under `node --test`) loads the TypeScript sources directly.
const CNI_INDEX = fileURLToPath(new URL('../../src/cni/index.ts', import.meta.url));
const SKELETON_PLUGIN = `#!${process.execPath} --import=tsx
import(${JSON.stringify(CNI_INDEX)}).then(async (cni) => {
  process.exitCode = await cni.runPlugin({
    about: 'skeleton test plugin',
    async add(ctx) {
      if (ctx.conf.raw.fail) throw new cni.CniError(107, 'bridge missing', 'bridge "br-lab" does not exist');
      const r = ctx.conf.prevResult ?? cni.emptyResult(ctx.conf.cniVersion);
      r.interfaces.push({ name: ctx.env.ifname, sandbox: ctx.env.netns, mtu: 9000 });
      r.ips.push({ address: '192.0.2.7/24', interface: r.interfaces.length - 1 });
      return r;
    },
    async del() {},
  });
});
`;

let dir = '';
let bin = '';
let log = '';

function writeExec(name: string, text: string, mode = 0o755): void {
  writeFileSync(join(bin, name), text);
  chmodSync(join(bin, name), mode);
}

interface LogEntry {
  plugin: string;
  cmd: string;
  conf: Record<string, unknown>;
  env: Record<string, string>;
}

function readLog(): LogEntry[] {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  rmSync(log, { force: true });
  return text.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LogEntry);
}

function inv(extra: Partial<Invocation> = {}): Invocation {
  return {
    containerId: 'ctr1',
    netns: '/var/run/netns/ctr1',
    ifname: 'eth0',
    path: [join(dir, 'empty'), bin],
    env: { EXTRA_ENV: 'from-invocation' },
    ...extra,
  };
}

function list(version: string, plugins: Array<Record<string, unknown>>): ReturnType<typeof parseConfList> {
  return parseConfList({ cniVersion: version, name: 'labnet', plugins });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cni-invoke-'));
  bin = join(dir, 'bin');
  mkdirSync(bin);
  mkdirSync(join(dir, 'empty'));
  log = join(dir, 'log.jsonl');
  writeExec('first', CHAIN_PLUGIN);
  writeExec('second', CHAIN_PLUGIN);
  writeExec('third', CHAIN_PLUGIN);
  writeExec('busy', '#!/bin/sh\ncat >/dev/null\necho \'{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"lock /run/x held"}\'\nexit 1\n');
  writeExec('crash', '#!/bin/sh\necho "panic: nil map" >&2\nexit 2\n');
  writeExec('garbage', '#!/bin/sh\ncat >/dev/null\necho hello\n');
  writeExec('hang', '#!/bin/sh\nexec sleep 30\n');
  writeExec('skel', SKELETON_PLUGIN);
  writeExec('noexec', '#!/bin/sh\nexit 0\n', 0o644);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('addNetworkList', () => {
  // Lists chain plugins, which came with 0.3.0.
  for (const version of CHAINED_VERSIONS) {
    it(`${version}: chains prevResult and injects name and cniVersion`, async () => {
      const l = list(version, [
        { type: 'first', addr: '10.0.0.2/24' },
        { type: 'second', addr: '10.0.1.2/24', name: 'overridden', cniVersion: '0.1.0' },
      ]);
      const trace: ExecTrace[] = [];
      const result = await addNetworkList(l, inv({ args: { K8S_POD_NAME: 'web' } }), trace);

      assert.equal(result.cniVersion, version);
      assert.deepEqual(result.interfaces.map((i) => i.name), ['first0', 'second0']);
      assert.deepEqual(result.ips, [
        { address: '10.0.0.2/24', interface: 0 },
        { address: '10.0.1.2/24', interface: 1 },
      ]);
      assert.deepEqual(trace.map((t) => `${t.plugin}:${t.command}`), ['first:ADD', 'second:ADD']);
      assert.ok(trace.every((t) => t.ms > 0));

      const [a, b] = readLog();
      assert.ok(a && b);
      for (const e of [a, b]) {
        assert.equal(e.conf['name'], 'labnet');
        assert.equal(e.conf['cniVersion'], version);
        assert.equal(e.env['CNI_CONTAINERID'], 'ctr1');
        assert.equal(e.env['CNI_NETNS'], '/var/run/netns/ctr1');
        assert.equal(e.env['CNI_IFNAME'], 'eth0');
        assert.equal(e.env['CNI_ARGS'], 'K8S_POD_NAME=web');
        assert.equal(e.env['EXTRA_ENV'], 'from-invocation');
        assert.equal(e.env['CNI_PATH'], `${join(dir, 'empty')}:${bin}`);
        // Nothing from the test runner's environment leaks into the plugin's.
        assert.deepEqual(Object.keys(e.env).sort(), ['CNI_ARGS', 'CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS', 'CNI_PATH', 'EXTRA_ENV', 'PATH']);
      }
      assert.equal('prevResult' in a.conf, false);
      const prev = b.conf['prevResult'] as Record<string, unknown>;
      assert.equal(prev['cniVersion'], version);
      const prevIps = prev['ips'] as Array<Record<string, unknown>>;
      assert.deepEqual(prevIps.map((i) => i['address']), ['10.0.0.2/24']);
      // The prevResult handed on is in the list's wire format: ips[].version exists only before 1.0.0.
      assert.equal(prevIps[0]?.['version'], versionAtLeast(version, '1.0.0') ? undefined : '4');
    });
  }

  it('passes only the capabilities a plugin declares, in runtimeConfig', async () => {
    const l = list('1.0.0', [{ type: 'first', addr: '10.0.0.2/24', capabilities: { portMappings: true, mac: false } }]);
    await addNetworkList(l, inv({ capabilityArgs: { portMappings: [{ hostPort: 80 }], mac: '02:00:00:00:00:01', bandwidth: {} } }));
    const [entry] = readLog();
    assert.deepEqual(entry?.conf['runtimeConfig'], { portMappings: [{ hostPort: 80 }] });
  });

  it('runs the plugin through the wrapper command', async () => {
    const wrapper = ['/bin/sh', '-c', 'export WRAPPED=yes; exec "$0" "$@"'];
    await addNetworkList(list('1.1.0', [{ type: 'first', addr: '10.0.0.2/24' }]), inv({ wrapper }));
    assert.equal(readLog()[0]?.env['WRAPPED'], 'yes');
  });

  it('stops at a failing plugin and reports its error prefixed with its type', async () => {
    const l = list('1.0.0', [{ type: 'first', addr: '10.0.0.2/24' }, { type: 'busy' }, { type: 'third', addr: '10.0.2.2/24' }]);
    await assert.rejects(addNetworkList(l, inv()), (e: unknown) => {
      assert.ok(e instanceof PluginExecError);
      assert.equal(e.code, ErrorCode.TryAgainLater);
      assert.equal(e.msg, 'busy');
      assert.equal(e.details, 'lock /run/x held');
      assert.equal(e.message, 'busy: busy: lock /run/x held');
      assert.deepEqual(e.toJSON('1.0.0'), { cniVersion: '1.0.0', code: 11, msg: 'busy', details: 'lock /run/x held' });
      return true;
    });
    assert.deepEqual(readLog().map((e) => e.plugin), ['first']);
  });

  it('a plugin that exits 0 with non-JSON output is a decode failure naming it', async () => {
    await assert.rejects(addNetworkList(list('1.0.0', [{ type: 'garbage' }]), inv()), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.code, ErrorCode.DecodeFailure);
      assert.match(e.message, /^garbage: invalid plugin output: .*"hello"/);
      return true;
    });
  });
});

describe('a plugin built on runPlugin, run by addNetworkList', () => {
  for (const version of ['0.3.1', '1.1.0'] as const) {
    it(`${version}: takes the previous result and returns its own in the list's version`, async () => {
      const l = list(version, [{ type: 'first', addr: '10.0.0.2/24' }, { type: 'skel' }]);
      const result = await addNetworkList(l, inv());
      readLog();
      assert.equal(result.cniVersion, version);
      assert.deepEqual(result.ips.map((i) => i.address), ['10.0.0.2/24', '192.0.2.7/24']);
      assert.deepEqual(result.interfaces[1], version === '1.1.0'
        ? { name: 'eth0', sandbox: '/var/run/netns/ctr1', mtu: 9000 }
        : { name: 'eth0', sandbox: '/var/run/netns/ctr1' });
    });
  }
  it('its plugin-specific error reaches the runtime with code, msg and details', async () => {
    await assert.rejects(addNetworkList(list('1.0.0', [{ type: 'skel', fail: true }]), inv()), (e: unknown) => {
      assert.ok(e instanceof PluginExecError);
      assert.deepEqual(e.toJSON('1.0.0'), { cniVersion: '1.0.0', code: 107, msg: 'bridge missing', details: 'bridge "br-lab" does not exist' });
      assert.equal(e.message, 'skel: bridge missing: bridge "br-lab" does not exist');
      return true;
    });
  });
});

describe('execPlugin', () => {
  it('a failure without a CNI error becomes 999 with the exit status and stderr', async () => {
    await assert.rejects(execPlugin({ cniVersion: '1.0.0', name: 'n', type: 'crash' }, 'ADD', inv()), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.code, ErrorCode.Internal);
      assert.match(e.message, /^crash: plugin failed: ADD exited with status 2 without a CNI error; stderr: panic: nil map$/);
      return true;
    });
  });

  it('a missing plugin names the type and every directory searched', async () => {
    await assert.rejects(execPlugin({ type: 'nosuch' }, 'ADD', inv()), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.code, ErrorCode.PluginNotAvailable);
      assert.equal(e.details, `no executable "nosuch" in CNI path [${join(dir, 'empty')}, ${bin}]`);
      return true;
    });
  });

  it('a file without the execute bit is not a plugin', async () => {
    await assert.rejects(execPlugin({ type: 'noexec' }, 'ADD', inv()), /plugin not found/);
  });

  it('a type that is a path is refused before any lookup', async () => {
    await assert.rejects(execPlugin({ type: '../bin/first' }, 'ADD', inv()), (e: unknown) =>
      e instanceof CniError && e.code === ErrorCode.InvalidNetworkConfig);
    assert.deepEqual(readLog(), []);
  });

  it('kills a plugin that outlives timeoutMs', async () => {
    const started = Date.now();
    await assert.rejects(execPlugin({ type: 'hang' }, 'ADD', inv({ timeoutMs: 200 })), /hang: plugin timed out: ADD did not finish within 200ms/);
    assert.ok(Date.now() - started < 5000);
  });

  it('DEL output of nothing is undefined', async () => {
    assert.equal(await execPlugin({ cniVersion: '1.0.0', name: 'n', type: 'first' }, 'DEL', inv()), undefined);
    readLog();
  });
});

describe('checkNetworkList and delNetworkList', () => {
  const prev: CniResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0' }],
    ips: [{ address: '10.0.0.2/24', interface: 0 }],
    routes: [],
    dns: {},
  };
  const plugins = [{ type: 'first' }, { type: 'second' }, { type: 'third' }];

  it('CHECK runs every plugin in order with prevResult', async () => {
    await checkNetworkList(list('1.0.0', plugins), inv(), prev);
    const entries = readLog();
    assert.deepEqual(entries.map((e) => `${e.plugin}:${e.cmd}`), ['first:CHECK', 'second:CHECK', 'third:CHECK']);
    for (const e of entries) assert.deepEqual((e.conf['prevResult'] as Record<string, unknown>)['ips'], [{ interface: 0, address: '10.0.0.2/24' }]);
  });

  it('CHECK is skipped with disableCheck and refused for 0.3.x lists', async () => {
    await checkNetworkList(parseConfList({ cniVersion: '1.0.0', name: 'labnet', disableCheck: true, plugins }), inv(), prev);
    assert.deepEqual(readLog(), []);
    await assert.rejects(checkNetworkList(list('0.3.1', plugins), inv(), prev), (e: unknown) =>
      e instanceof CniError && e.code === ErrorCode.IncompatibleVersion && /CHECK needs 0\.4\.0/.test(e.details));
    assert.deepEqual(readLog(), []);
  });

  // Lists chain plugins, which came with 0.3.0.
  for (const version of CHAINED_VERSIONS) {
    const withPrev = versionAtLeast(version, '0.4.0');
    it(`${version}: DEL runs plugins in reverse order${withPrev ? ' with prevResult' : ', without prevResult (not defined before 0.4.0)'}`, async () => {
      const trace: ExecTrace[] = [];
      await delNetworkList(list(version, plugins), inv({ netns: '' }), prev, trace);
      const entries = readLog();
      assert.deepEqual(entries.map((e) => `${e.plugin}:${e.cmd}`), ['third:DEL', 'second:DEL', 'first:DEL']);
      assert.deepEqual(trace.map((t) => t.plugin), ['third', 'second', 'first']);
      for (const e of entries) {
        assert.equal('prevResult' in e.conf, withPrev);
        assert.equal('CNI_NETNS' in e.env, false);
      }
    });
  }
});

describe('pluginVersions', () => {
  it('returns the versions a plugin reports, having sent it a cniVersion on stdin', async () => {
    assert.deepEqual(await pluginVersions('first', [bin]), ['0.4.0', '1.0.0']);
    const [entry] = readLog();
    assert.equal(entry?.cmd, 'VERSION');
    assert.deepEqual(entry?.conf, { cniVersion: '1.1.0' });
  });
  it('rejects VERSION output without supportedVersions', async () => {
    await assert.rejects(pluginVersions('garbage', [bin]), (e: unknown) => e instanceof CniError && e.code === ErrorCode.DecodeFailure);
  });
});
