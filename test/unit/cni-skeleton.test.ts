import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CniError } from '../../src/cni/errors';
import { type PluginContext, type PluginFuncs, type PluginIO, runPlugin } from '../../src/cni/skeleton';
import type { CniResult } from '../../src/cni/types';
import { type CniVersion, SUPPORTED_VERSIONS, isLegacyVersion, versionAtLeast } from '../../src/cni/versions';

interface FakeRun {
  code: number;
  stdout: string;
  stderr: string;
  calls: string[];
  ctx?: PluginContext;
}

const baseEnv = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/c1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
};

const result: CniResult = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/c1', mtu: 1500 }],
  ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0', priority: 5 }],
  dns: {},
};

function conf(version: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ cniVersion: version, name: 'lab', type: 'fake', ...extra });
}

async function run(env: Record<string, string | undefined>, stdin: string, overrides: Partial<PluginFuncs> = {}): Promise<FakeRun> {
  const out: FakeRun = { code: -1, stdout: '', stderr: '', calls: [] };
  const funcs: PluginFuncs = {
    about: 'fake plugin v0',
    async add(ctx) { out.calls.push('add'); out.ctx = ctx; return result; },
    async del(ctx) { out.calls.push('del'); out.ctx = ctx; },
    async check(ctx) { out.calls.push('check'); out.ctx = ctx; },
    async status(ctx) { out.calls.push('status'); out.ctx = ctx; },
    ...overrides,
  };
  let stdinReads = 0;
  const io: PluginIO = {
    env,
    async readStdin() { stdinReads++; return stdin; },
    writeStdout(s) { out.stdout += s; },
    writeStderr(s) { out.stderr += s; },
  };
  out.code = await runPlugin(funcs, io);
  if (stdinReads > 1) throw new Error('stdin read twice');
  return out;
}

function errorOf(r: FakeRun): Record<string, unknown> {
  assert.equal(r.code, 1, `expected failure, stdout: ${r.stdout}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('runPlugin for every version', () => {
  for (const version of SUPPORTED_VERSIONS) {
    it(`${version}: ADD prints the result in the config's version and nothing else`, async () => {
      const r = await run(baseEnv, conf(version));
      assert.equal(r.code, 0);
      assert.equal(r.stdout.trim().split('\n').length, 1);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(out['cniVersion'], version);
      if (isLegacyVersion(version as CniVersion)) {
        // 0.1.0/0.2.0: the address as ip4, with the IPv4 routes; no interfaces, ips or routes lists.
        assert.deepEqual(out['ip4'], { ip: '10.0.0.2/24', gateway: '10.0.0.1', routes: [{ dst: '0.0.0.0/0' }] });
        for (const k of ['interfaces', 'ips', 'routes']) assert.equal(k in out, false, k);
      } else {
        const ip = (out['ips'] as Array<Record<string, unknown>>)[0];
        assert.equal(ip?.['version'], versionAtLeast(version, '1.0.0') ? undefined : '4');
        const route = (out['routes'] as Array<Record<string, unknown>>)[0];
        assert.equal(route?.['priority'], versionAtLeast(version, '1.1.0') ? 5 : undefined);
      }
      assert.equal(r.ctx?.env.ifname, 'eth0');
      assert.equal(r.ctx?.conf.name, 'lab');
    });

    it(`${version}: VERSION prints every supported version without reading stdin`, async () => {
      const r = await run({ CNI_COMMAND: 'VERSION' }, 'not json');
      assert.equal(r.code, 0);
      assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
      assert.deepEqual(r.calls, []);
    });

    it(`${version}: DEL without CNI_NETNS calls del and prints nothing`, async () => {
      const r = await run({ ...baseEnv, CNI_COMMAND: 'DEL', CNI_NETNS: undefined }, conf(version));
      assert.equal(r.code, 0);
      assert.equal(r.stdout, '');
      assert.deepEqual(r.calls, ['del']);
    });

    const checkOk = versionAtLeast(version, '0.4.0');
    it(`${version}: CHECK is ${checkOk ? 'run' : 'refused with code 1'}`, async () => {
      const r = await run({ ...baseEnv, CNI_COMMAND: 'CHECK' }, conf(version, { prevResult: { cniVersion: version } }));
      if (checkOk) {
        assert.equal(r.code, 0);
        assert.deepEqual(r.calls, ['check']);
      } else {
        const e = errorOf(r);
        assert.equal(e['code'], 1);
        assert.equal(e['cniVersion'], version);
        assert.match(String(e['msg']), /does not allow CHECK/);
        assert.deepEqual(r.calls, []);
      }
    });

    const v11 = versionAtLeast(version, '1.1.0');
    for (const command of ['STATUS', 'GC'] as const) {
      it(`${version}: ${command} is ${v11 ? 'run' : 'refused with code 1'}`, async () => {
        const r = await run({ CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin' }, conf(version));
        if (v11) {
          assert.equal(r.code, 0, r.stdout);
          assert.deepEqual(r.calls, command === 'STATUS' ? ['status'] : []);
        } else {
          const e = errorOf(r);
          assert.equal(e['code'], 1);
          assert.match(String(e['details']), new RegExp(`${command} needs cniVersion 1\\.1\\.0`));
        }
      });
    }

    const badInputs: Array<[string, Record<string, string | undefined>, string, number, RegExp]> = [
      ['malformed JSON', baseEnv, '{"cniVersion":', 6, /JSON/],
      ['missing cniVersion', baseEnv, JSON.stringify({ name: 'lab', type: 'fake' }), 1, /missing cniVersion/],
      ['unknown cniVersion', baseEnv, conf('0.5.0'), 1, /"0\.5\.0" is not supported/],
      ['missing CNI_CONTAINERID', { ...baseEnv, CNI_CONTAINERID: undefined }, conf(version), 4, /CNI_CONTAINERID is required/],
      ['missing CNI_NETNS', { ...baseEnv, CNI_NETNS: undefined }, conf(version), 4, /CNI_NETNS is required/],
      ['16-char CNI_IFNAME', { ...baseEnv, CNI_IFNAME: 'abcdefghijklmnop' }, conf(version), 4, /CNI_IFNAME "abcdefghijklmnop" is 16 bytes/],
      ['bad CNI_ARGS', { ...baseEnv, CNI_ARGS: 'NOPE' }, conf(version), 4, /CNI_ARGS pair "NOPE"/],
      ['unknown CNI_COMMAND', { ...baseEnv, CNI_COMMAND: 'REMOVE' }, conf(version), 4, /CNI_COMMAND="REMOVE"/],
      isLegacyVersion(version)
        ? ['invalid CIDR in prevResult', baseEnv, conf(version, { prevResult: { ip4: { ip: '10.0.0.2/99' } } }), 6, /prevResult\.ip4\.ip: "10\.0\.0\.2\/99" is not a CIDR/]
        : ['invalid CIDR in prevResult', baseEnv, conf(version, { prevResult: { ips: [{ address: '10.0.0.2/24' }, { address: '10.0.0.2/99' }] } }), 6, /prevResult\.ips\[1\]\.address: "10\.0\.0\.2\/99" is not a CIDR/],
    ];
    for (const [name, env, stdin, code, pattern] of badInputs) {
      it(`${version}: ${name} → error ${code} on stdout, plugin not called`, async () => {
        const r = await run(env, stdin);
        const e = errorOf(r);
        assert.equal(e['code'], code);
        assert.match(`${String(e['msg'])} ${String(e['details'] ?? '')}`.trim(), pattern);
        assert.deepEqual(r.calls, []);
        // Errors are in the config's version when the config names a supported one.
        const expectVersion = stdin.includes(`"cniVersion":"${version}"`) ? version : '1.1.0';
        assert.equal(e['cniVersion'], expectVersion);
      });
    }
  }
});

describe('runPlugin error mapping', () => {
  it('a CniError from the plugin is printed with its code, msg and details', async () => {
    const r = await run(baseEnv, conf('1.0.0'), {
      async add() { throw new CniError(11, 'try again', 'the lock on node1 is held'); },
    });
    assert.deepEqual(errorOf(r), { cniVersion: '1.0.0', code: 11, msg: 'try again', details: 'the lock on node1 is held' });
  });

  it('any other exception becomes 999 "internal error" with its message; the stack goes to stderr', async () => {
    const r = await run(baseEnv, conf('0.4.0'), { async add() { throw new TypeError('x is undefined'); } });
    assert.deepEqual(errorOf(r), { cniVersion: '0.4.0', code: 999, msg: 'internal error', details: 'x is undefined' });
    assert.match(r.stderr, /TypeError: x is undefined/);
  });

  it('a kernel-style error keeps its errno name', async () => {
    const kernelError = Object.assign(new Error('link veth1 already exists'), { code: 'EEXIST' });
    const r = await run(baseEnv, conf('1.1.0'), { async add() { throw kernelError; } });
    assert.equal(errorOf(r)['details'], 'EEXIST: link veth1 already exists');
  });

  it('a STATUS handler reports unavailability with its own code', async () => {
    const r = await run({ CNI_COMMAND: 'STATUS', CNI_PATH: '/x' }, conf('1.1.0'), {
      async status() { throw new CniError(50, 'plugin not available', 'daemon socket /run/meshnet.sock is missing'); },
    });
    assert.equal(errorOf(r)['code'], 50);
  });

  it('a plugin that limits its versions refuses others and lists only its own in VERSION', async () => {
    const versions: readonly CniVersion[] = ['1.0.0', '1.1.0'];
    const refused = await run(baseEnv, conf('0.4.0'), { versions });
    assert.deepEqual(errorOf(refused), {
      cniVersion: '0.4.0', code: 1, msg: 'incompatible CNI versions', details: 'config is "0.4.0", plugin supports [1.0.0, 1.1.0]',
    });
    const v = await run({ CNI_COMMAND: 'VERSION' }, '', { versions });
    assert.deepEqual(JSON.parse(v.stdout), { cniVersion: '1.1.0', supportedVersions: ['1.0.0', '1.1.0'] });
  });

  it('without CNI_COMMAND prints the about text to stderr and exits 0 (like the reference skel)', async () => {
    const r = await run({}, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^fake plugin v0\nCNI protocol versions supported: 0\.1\.0, 0\.2\.0, 0\.3\.0, /);
  });

  it('a stdin read failure is an I/O failure (5)', async () => {
    const io: PluginIO = {
      env: baseEnv,
      async readStdin() { throw new Error('EIO'); },
      writeStdout(s) { stdout += s; },
      writeStderr() {},
    };
    let stdout = '';
    const code = await runPlugin({ about: '', async add() { return result; }, async del() {} }, io);
    assert.equal(code, 1);
    assert.equal((JSON.parse(stdout) as Record<string, unknown>)['code'], 5);
  });
});
