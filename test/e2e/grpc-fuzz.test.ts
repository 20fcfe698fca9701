// Garbage from the network into every method of meshnetd's gRPC port (issue 8), sent with raw
// HTTP/2 by test/helpers/grpc-fuzz-client.ts: random and mutated bytes, another method's message,
// oversized and lying length prefixes, compressed flags, wrong content types, streams cut
// mid-message, TCP garbage. From the node itself (loopback: Local is served there, so its
// handlers get the garbage too) and from another host. The daemon keeps serving, answers every
// call, refuses oversized messages without buffering them, and counts how each call ended.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkLinks, netnsPath, type LabState } from '../../src/lab';
import { cniSocketPath } from '../../src/plumbing/sockets';
import { openStore } from '../../src/store';
import { TopologyClient } from '../../src/topology';
import { N1, from, labDownWithAttacker, labWithAttacker, removeRunDir } from '../helpers/attacker-lab';

const name = `fz${process.pid % 10000}${randomBytes(2).toString('hex')}`;
let lab: LabState;
let pidBefore: number;
const runs: { requests: number; outcome: Record<string, number> }[] = [];
before(async () => {
  lab = await labWithAttacker(name, 'grpc');
  pidBefore = lab.nodes.find((n) => n.name === 'n1')!.daemonPid!;
  // Three seeds from the node itself, one from the attacker host.
  for (const [netns, target, seed] of [[lab.nodes[0]!.netns, '127.0.0.1:51111', 1], [lab.nodes[0]!.netns, '127.0.0.1:51111', 2],
    [lab.nodes[0]!.netns, '127.0.0.1:51111', 3], [`${name}-atk`, `${N1}:51111`, 4]] as const) {
    runs.push(await fuzz(netns, target, seed));
  }
});
after(async () => {
  await labDownWithAttacker(name);
  removeRunDir();
});

function fuzz(netns: string, target: string, seed: number): Promise<{ requests: number; outcome: Record<string, number> }> {
  return new Promise((res, rej) => {
    const c = spawn('nsenter', [`--net=${netnsPath(netns)}`, '--', process.execPath, '--import', 'tsx', resolve('test/helpers/grpc-fuzz-client.ts'), target, String(seed)],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FUZZ_DETAIL: '1' } });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', rej);
    c.on('close', () => { try { res(JSON.parse(out) as { requests: number; outcome: Record<string, number> }); } catch { rej(new Error(`fuzz client: ${out}\n${err}`)); } });
  });
}

function metrics(): Promise<string> {
  return new Promise((res, rej) => {
    httpGet({ socketPath: cniSocketPath('meshnetd-admin', netnsPath(lab.nodes[0]!.netns)), path: '/metrics' }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => { body += d.toString(); });
      r.on('end', () => res(body));
    }).on('error', rej);
  });
}

test('the daemon survives: the same process, still answering Local.Get on its own node', async () => {
  assert.equal(runs.reduce((n, r) => n + r.requests, 0), 4 * 16 * 11, 'every method got every kind of garbage');
  process.kill(pidBefore, 0);
  assert.equal(lab.nodes[0]!.daemonPid, pidBefore);
  const out = await from(lab.nodes[0]!.netns, `
    const def = loader.loadSync('${resolve('proto/meshnet/v1beta1/meshnet.proto')}', { keepCase: true, longs: String, defaults: true });
    const Local = grpcJs.loadPackageDefinition(def).meshnet.v1beta1.Local;
    const c = new Local('127.0.0.1:51111', grpcJs.credentials.createInsecure());
    console.log(await new Promise((res) => c.Get({ name: 'r1', kube_ns: 'default' }, (e, v) => res(e ? 'ERR ' + e.message : v.node_ip)))); c.close();`);
  assert.equal(out, N1);
});

test('every call was answered (a gRPC status, or a reset of a stream the client cut itself): nothing hung', () => {
  for (const r of runs) {
    assert.equal(r.outcome.timeout, undefined, JSON.stringify(r.outcome));
    const resets = Object.entries(r.outcome).filter(([k]) => /^stream cut mid-message: /.test(k) === false && /: reset [^0]/.test(k));
    assert.deepEqual(resets, [], 'only the streams the client cut end without an answer');
  }
});

test('oversized messages are refused with RESOURCE_EXHAUSTED, for the unary methods and for SendToStream (without waiting for the bytes)', () => {
  for (const r of runs) {
    assert.equal(r.outcome['a large body (8 MiB): grpc-status 8'], 16, JSON.stringify(r.outcome));
    assert.ok((r.outcome['length prefix of 4 GiB: grpc-status 8'] ?? 0) >= 1, 'SendToStream refuses a 4 GiB prefix at once');
  }
});

test('the grpc-wire link still passes traffic', async () => {
  const rows = await checkLinks(lab, await new TopologyClient(await openStore(lab.store)).list());
  assert.deepEqual(rows.map((r) => [r.uid, r.pass]), [[1, true]]);
});

test('how each call ended is counted per method and code in meshnetd_grpc_requests_total', async () => {
  const text = await metrics();
  const rows = [...text.matchAll(/^meshnetd_grpc_requests_total\{node="n1",method="([^"]+)",code="([^"]+)"\} (\d+)$/gm)];
  const refused = rows.filter((m) => m[2] !== 'OK').reduce((n, m) => n + Number(m[3]), 0);
  assert.ok(refused >= 4 * 16 * 9, `refusals counted: ${refused}\n${rows.map((m) => m[0]).join('\n')}`);
  assert.ok(rows.some((m) => m[1] === 'meshnet.v1beta1.WireProtocol/SendToStream' && m[2] === 'RESOURCE_EXHAUSTED'));
  assert.ok(rows.some((m) => m[1] === 'meshnet.v1beta1.Local/Get' && m[2] === 'INVALID_ARGUMENT'));
  assert.ok(rows.every((m) => m[1] === 'other' || /^meshnet\.(v1beta1|ext\.v1)\.\w+\/\w+$/.test(m[1]!)), 'one series per method, no path from the request');
});
