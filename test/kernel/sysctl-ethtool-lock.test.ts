import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  readSysctl, writeSysctl, withNetns, disableTxOffloads, txOffloadsEnabled, lockFile, KernelError,
} from '../../src/kernel/index';
import { tempNetns, cleanupAllNetns, hasCommand, sh } from '../helpers/netns';

after(cleanupAllNetns);

test('sysctl written inside a netns does not leak to the root netns', () => {
  const t = tempNetns();
  try {
    const rootBefore = readSysctl('net.ipv4.ip_forward');
    const flipped = rootBefore === '1' ? '0' : '1';
    withNetns(t.ns, () => writeSysctl('net.ipv4.ip_forward', flipped));
    assert.equal(withNetns(t.ns, () => readSysctl('net.ipv4.ip_forward')), flipped);
    assert.equal(readSysctl('net.ipv4.ip_forward'), rootBefore);
    assert.equal(sh('ip', ['netns', 'exec', t.name, 'cat', '/proc/sys/net/ipv4/ip_forward']).trim(), flipped);
  } finally {
    t.cleanup();
  }
});

test('sysctl keys with slashes reach dotted interface names; numbers are accepted', () => {
  const t = tempNetns();
  try {
    t.rtnl().createVeth({ name: 'v.10', peerName: 'v.11' });
    withNetns(t.ns, () => {
      writeSysctl('net/ipv4/conf/v.10/rp_filter', 2);
      assert.equal(readSysctl('net/ipv4/conf/v.10/rp_filter'), '2');
      writeSysctl('net.ipv4.conf.all.rp_filter', 0);
      assert.equal(readSysctl('net/ipv4/conf/all/rp_filter'), '0');
    });
  } finally {
    t.cleanup();
  }
});

test('sysctl errors: missing key is KernelError ENOENT naming the key; bad keys are plain errors', () => {
  assert.throws(() => readSysctl('net.ipv4.no_such_key'), (e: unknown) => {
    assert.ok(e instanceof KernelError);
    assert.equal(e.code, 'ENOENT');
    assert.match(e.message, /reading sysctl net\.ipv4\.no_such_key/);
    return true;
  });
  assert.throws(() => readSysctl('net/../../etc/passwd'), /^Error: key:/);
  assert.throws(() => readSysctl(''), /^Error: key:/);
});

test('disableTxOffloads on a veth end inside a netns', () => {
  const t = tempNetns();
  try {
    t.rtnl().createVeth({ name: 've0', peerName: 've1' });
    withNetns(t.ns, () => {
      assert.deepEqual(txOffloadsEnabled('ve0'), { txCsum: true, tso: true, gso: true });
      disableTxOffloads('ve0');
      assert.deepEqual(txOffloadsEnabled('ve0'), { txCsum: false, tso: false, gso: false });
      assert.equal(txOffloadsEnabled('ve1').txCsum, true, 'the other end is untouched');
      disableTxOffloads('ve0'); // idempotent
    });
    if (hasCommand('ethtool')) {
      const k = sh('ip', ['netns', 'exec', t.name, 'ethtool', '-k', 've0']);
      assert.match(k, /tx-checksumming: off/);
      assert.match(k, /tcp-segmentation-offload: off/);
      assert.match(k, /generic-segmentation-offload: off/);
    }
    assert.throws(() => withNetns(t.ns, () => disableTxOffloads('nope0')), (e: unknown) => e instanceof KernelError && e.code === 'ENODEV' && /nope0/.test(e.message));
    assert.throws(() => txOffloadsEnabled(''), /^Error: ifname:/);
  } finally {
    t.cleanup();
  }
});

test('lockFile excludes other processes until released', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kt-lock-'));
  const file = path.join(dir, 'store.lock');
  try {
    const probe = (): number => spawnSync('flock', ['-n', file, 'true']).status ?? -1;
    const l = lockFile(file);
    assert.ok(fs.existsSync(file));
    assert.notEqual(probe(), 0, 'another process cannot take the lock');
    l.release();
    l.release(); // idempotent
    assert.equal(probe(), 0);
    const again = lockFile(file);
    again.release();
    assert.throws(() => lockFile(path.join(dir, 'no', 'such', 'dir')), (e: unknown) => e instanceof KernelError && e.code === 'ENOENT');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
