import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import {
  NetNs, withNetns, createNamedNetns, deleteNamedNetns, listNamedNetns, netnsPathExists, KernelError, Rtnl,
} from '../../src/kernel/index';
import { tempNetns, uniqueName, cleanupAllNetns, sh } from '../helpers/netns';

after(cleanupAllNetns);

const threadNetnsIno = (): number => fs.statSync('/proc/thread-self/ns/net').ino;

test('create, list, open and delete a named netns', () => {
  const name = uniqueName();
  createNamedNetns(name);
  try {
    assert.ok(listNamedNetns().includes(name));
    assert.ok(netnsPathExists(name));
    assert.ok(netnsPathExists(`/var/run/netns/${name}`));
    assert.match(sh('ip', ['netns', 'list']), new RegExp(`^${name}\\b`, 'm'));
    const ns = NetNs.open(name);
    try {
      assert.equal(ns.path, `/var/run/netns/${name}`);
      assert.ok(ns.fd >= 0);
      // a fresh netns, distinct from ours, with lo up
      assert.notEqual(withNetns(ns, threadNetnsIno), threadNetnsIno());
      const r = Rtnl.open(ns);
      try {
        const lo = r.link('lo');
        assert.ok(lo?.up, 'lo is up in the new netns');
        assert.deepEqual(r.links().map((l) => l.name), ['lo']);
      } finally {
        r.close();
      }
    } finally {
      ns.close();
      ns.close(); // idempotent
    }
  } finally {
    assert.equal(deleteNamedNetns(name), true);
  }
  assert.ok(!listNamedNetns().includes(name));
  assert.equal(netnsPathExists(name), false);
  assert.equal(deleteNamedNetns(name), false);
});

test('createNamedNetns of an existing name fails with EEXIST', () => {
  const t = tempNetns();
  try {
    assert.throws(() => createNamedNetns(t.name), (e: unknown) => {
      assert.ok(e instanceof KernelError);
      assert.equal(e.code, 'EEXIST');
      assert.match(e.message, new RegExp(t.name));
      return true;
    });
    // the existing netns is intact
    assert.equal(t.rtnl().link('lo')?.up, true);
  } finally {
    t.cleanup();
  }
});

test('NetNs.open of a missing netns is ENOENT naming the path', () => {
  const name = uniqueName('missing');
  assert.throws(() => NetNs.open(name), (e: unknown) => {
    assert.ok(e instanceof KernelError);
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.errno, 2);
    assert.ok(e.message.includes(`/var/run/netns/${name}`), e.message);
    assert.match(e.message, /: ENOENT \(/);
    return true;
  });
  assert.throws(() => NetNs.open('/proc/999999999/ns/net'), /ENOENT/);
});

test('NetNs.current is the calling thread netns; paths work', () => {
  const cur = NetNs.current();
  const byPath = NetNs.open(`/proc/${process.pid}/ns/net`);
  try {
    assert.equal(fs.fstatSync(cur.fd).ino, threadNetnsIno());
    assert.equal(fs.fstatSync(byPath.fd).ino, threadNetnsIno());
  } finally {
    cur.close();
    byPath.close();
  }
});

test('withNetns switches, returns the value and restores the original netns', () => {
  const t = tempNetns();
  try {
    const before = threadNetnsIno();
    const inside = withNetns(t.ns, () => threadNetnsIno());
    assert.notEqual(inside, before);
    assert.equal(threadNetnsIno(), before);
    // nested windows restore each level
    const u = tempNetns();
    try {
      const seen = withNetns(t.ns, () => {
        const a = threadNetnsIno();
        const b = withNetns(u.ns, threadNetnsIno);
        return [a, b, threadNetnsIno()];
      });
      assert.equal(seen[0], inside);
      assert.notEqual(seen[1], inside);
      assert.equal(seen[2], inside);
      assert.equal(threadNetnsIno(), before);
    } finally {
      u.cleanup();
    }
  } finally {
    t.cleanup();
  }
});

test('withNetns restores the original netns when fn throws', () => {
  const t = tempNetns();
  try {
    const before = threadNetnsIno();
    assert.throws(() => withNetns(t.ns, () => { throw new Error('boom'); }), /boom/);
    assert.equal(threadNetnsIno(), before);
  } finally {
    t.cleanup();
  }
});

test('withNetns rejects async functions (after restoring)', async () => {
  const t = tempNetns();
  try {
    const before = threadNetnsIno();
    let p: Promise<void> | undefined;
    assert.throws(() => withNetns(t.ns, () => (p = Promise.resolve())), /Promise/);
    await p;
    assert.equal(threadNetnsIno(), before);
  } finally {
    t.cleanup();
  }
});

test('withNetns refuses a closed handle', () => {
  const t = tempNetns();
  const ns = NetNs.open(t.name);
  ns.close();
  try {
    assert.throws(() => withNetns(ns, () => 1), /closed/);
  } finally {
    t.cleanup();
  }
});

test('invalid netns names are plain errors', () => {
  assert.throws(() => createNamedNetns(''), (e: unknown) => e instanceof Error && !(e instanceof KernelError));
  assert.throws(() => createNamedNetns('..'), /netns name/);
  assert.throws(() => NetNs.open(''), /netns/);
});
