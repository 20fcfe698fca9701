// `meshnetctl lab capture` (issue 10): a capture on any link kind, read back by tcpdump, and the
// lab's machine-readable output. One lab per inter-node link type: r1-r2 on one node (veth),
// r1-r3 across nodes (VXLAN, or a grpc-wire).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { labDown, labUp, type LabState } from '../../src/lab';
import { threePods } from '../helpers/lab-files';

const ctlPath = resolve('dist/meshnetctl');
const ctl = (...args: string[]) => spawnSync(process.execPath, [ctlPath, ...args], { encoding: 'utf8' });


/** Runs `lab capture ... -w -` while `traffic` runs; resolves to the pcap bytes and the exit code. */
async function captureStream(args: string[], traffic: () => void): Promise<{ pcap: Buffer; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [ctlPath, 'lab', 'capture', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  const listening = new Promise<void>((res) => child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.includes('listening on')) res();
  }));
  const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  await Promise.race([listening, exited]);
  traffic();
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return { pcap: Buffer.concat(chunks), code, stderr };
}

const pingFrom = (state: LabState, pod: string, ip: string) =>
  spawnSync('ip', ['netns', 'exec', state.pods.find((p) => p.name === pod)!.netns, 'ping', '-c', '3', '-i', '0.2', '-W', '2', ip], { encoding: 'utf8' });

for (const [label, linkType, crossKind] of [['VXLAN lab', undefined, 'vxlan'], ['grpc-wire lab', 'grpc', 'grpc-wire']] as const) {
  describe(`lab capture (${label})`, () => {
    const name = `cp${process.pid % 10000}${randomBytes(2).toString('hex')}`;
    let state: LabState;
    before(async () => {
      state = await labUp(threePods(name, { ...(linkType ? { linkType } : {}), net1: '10.61.0', net2: '10.62.0' }), '(capture)', { cniBinDir: resolve('dist/cni') });
    });
    after(async () => {
      await labDown(name);
    });

    for (const [kind, endpoint, ip] of [['veth', 'r1:eth1', '10.61.0.2'], [crossKind, 'r1:eth2', '10.62.0.3']] as const) {
      test(`a capture on a ${kind} link, written as a pcap stream (-w -), is read back by tcpdump: every echo request and reply (filter icmp)`, async () => {
        const { pcap, code, stderr } = await captureStream([name, endpoint, '-w', '-', '-c', '6', 'icmp'], () => {
          const r = pingFrom(state, 'r1', ip);
          assert.equal(r.status, 0, r.stdout + r.stderr);
        });
        assert.equal(code, 0, stderr);
        const read = spawnSync('tcpdump', ['-r', '-', '-n'], { input: pcap, encoding: 'utf8' });
        assert.equal(read.status, 0, read.stderr);
        assert.equal(read.stdout.match(/ICMP echo request/g)?.length, 3, read.stdout);
        assert.equal(read.stdout.match(/ICMP echo reply/g)?.length, 3, read.stdout);
      });
    }

    test('--duration ends a capture with no traffic on time and leaves a pcap file (-w FILE)', () => {
      const file = join(tmpdir(), `${name}.pcap`);
      try {
        const t0 = Date.now();
        const r = ctl('lab', 'capture', name, 'r3:eth1', '-w', file, '--duration', '1');
        assert.equal(r.status, 0, r.stderr);
        assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
        // pcap's magic number, in either byte order and with either timestamp resolution.
        assert.ok(['a1b2c3d4', 'd4c3b2a1', 'a1b23c4d', '4d3cb2a1'].includes(readFileSync(file).subarray(0, 4).toString('hex')));
      } finally {
        rmSync(file, { force: true });
      }
    });

    test('a capture of an interface the pod does not have is refused, naming the interfaces it has', () => {
      const r = ctl('lab', 'capture', name, 'r2:eth9', '-c', '1');
      assert.equal(r.status, 1);
      assert.match(r.stderr, /pod default\/r2 has no interface eth9 \(it has .*eth1/);
    });

    test('lab status --output json: nodes, pods and every link with its kind and state', () => {
      const r = ctl('lab', 'status', name, '--output', 'json');
      assert.equal(r.status, 0, r.stderr);
      const [lab] = (JSON.parse(r.stdout) as { labs: { name: string; nodes: { name: string }[]; pods: { name: string }[]; links: { uid: number; kind: string; state: string }[] }[] }).labs;
      assert.equal(lab!.name, name);
      assert.deepEqual(lab!.nodes.map((n) => n.name), ['n1', 'n2']);
      assert.deepEqual(lab!.pods.map((p) => p.name), ['r1', 'r2', 'r3']);
      assert.deepEqual(lab!.links.map((l) => [l.uid, l.kind, l.state]), [[1, 'veth', 'up'], [2, linkType ?? 'vxlan', 'up']]);
    });
  });
}

test('--help on every meshnetctl command prints that command\'s usage', () => {
  for (const cmd of ['up', 'apply', 'status', 'check', 'exec', 'wires', 'capture', 'restart-daemon', 'down']) {
    const r = ctl('lab', cmd, '--help');
    assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: meshnetctl lab ${cmd}\\b`), cmd);
  }
  assert.match(ctl('demo', '--help').stdout, /^usage: meshnetctl demo/);
});

test('--output with an unknown format is refused, naming the formats', () => {
  const r = ctl('lab', 'status', '--output', 'yaml');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--output takes json or table, got "yaml"/);
});

test('every binary answers --version with its name, the package version and the commit', () => {
  const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
  for (const bin of ['meshnetd', 'meshnetctl', 'kmesh-installer', 'cni/meshnet', 'cni/veth', 'cni/router', 'cni/kmesh-cni']) {
    const r = spawnSync(resolve('dist', bin), ['--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${bin}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^${bin.replace('cni/', '')} ${version.replace(/\./g, '\\.')} \\(commit \\w+`), bin);
  }
});
