// DELs the exec shim left while no meshnetd answered (src/daemon/deferred-del.ts): run oldest
// first when the daemon starts; one that succeeds is gone, one that fails stays for the next pass,
// and a file that is not a DEL request is dropped with a warning (it would fail forever).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDeferredDels } from '../../src/daemon/deferred-del';
import { memoryLogger } from '../../src/log';

/** A request as the shim writes it (cni-shim.c: "MNC1\n", CNI_* lines, a blank line, the config). */
const request = (command: string, container: string) =>
  `MNC1\nCNI_COMMAND=${command}\nCNI_CONTAINERID=${container}\nCNI_NETNS=/var/run/netns/cni-x\nCNI_IFNAME=eth0\nCNI_ARGS=K8S_POD_NAMESPACE=default;K8S_POD_NAME=r1\n\n{"cniVersion":"1.0.0","name":"meshnet","type":"meshnet"}`;

test('deferred DELs run oldest first; a DEL that succeeds is removed, one that fails stays for the next pass', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'deferred-'));
  try {
    writeFileSync(join(dir, '1000-1.req'), request('DEL', 'aaa'));
    writeFileSync(join(dir, '2000-1.req'), request('DEL', 'bbb'));
    const seen: string[] = [];
    const r = await runDeferredDels(dir, async (req) => {
      seen.push(req.env.CNI_CONTAINERID!);
      return req.env.CNI_CONTAINERID === 'aaa' ? { exitCode: 0, stdout: '' } : { exitCode: 1, stdout: '{"code":11,"msg":"store unreachable"}' };
    }, memoryLogger([]));
    assert.deepEqual(seen, ['aaa', 'bbb']);
    assert.deepEqual(r, { done: 1, failed: 1 });
    assert.deepEqual(readdirSync(dir), ['2000-1.req']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a deferred file that is not a DEL request (garbage, or another command) is dropped and named in the log, not run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'deferred-'));
  try {
    writeFileSync(join(dir, '1000-1.req'), 'not a request');
    writeFileSync(join(dir, '2000-1.req'), request('ADD', 'ccc'));
    writeFileSync(join(dir, '.3000-1.tmp'), request('DEL', 'half-written')); // the shim's temporary name: not yet a request
    const lines: string[] = [];
    let ran = 0;
    await runDeferredDels(dir, async () => { ran++; return { exitCode: 0, stdout: '' }; }, memoryLogger(lines));
    assert.equal(ran, 0);
    assert.deepEqual(readdirSync(dir), ['.3000-1.tmp']);
    assert.match(lines.join('\n'), /deferred DEL 1000-1\.req: dropped: not a cni-shim request/);
    assert.match(lines.join('\n'), /deferred DEL 2000-1\.req: dropped: it asks for ADD, and only DELs are deferred/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no deferred directory (the shim never needed one) is nothing to do', async () => {
  assert.deepEqual(await runDeferredDels(join(tmpdir(), 'no-such-deferred-dir'), async () => ({ exitCode: 0, stdout: '' }), memoryLogger([])), { done: 0, failed: 0 });
});
