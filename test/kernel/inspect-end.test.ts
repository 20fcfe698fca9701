// Reading an interface that a daemon removes at that very moment (issue 21: the CI run where
// reading a link, then its addresses by name, failed with ENODEV). The removal is forced between
// the two netlink reads, on the real kernel: the Rtnl under test has its socket wrapped so that
// the link is deleted (through another socket) right after the first read returns.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Rtnl } from '../../src/kernel';
import { inspectEnd } from '../../src/plumbing/links';
import { cleanupAllNetns, tempNetns, type TempNetns } from '../helpers/netns';

after(cleanupAllNetns);

/** An Rtnl on `t` whose first netlink read is followed by the removal of `intf`. */
function removingAfterFirstRead(t: TempNetns, intf: string): { rtnl: Rtnl; reads: () => number } {
  const real = Rtnl.open(t.ns);
  let reads = 0;
  const readsThenRemoves = (fn: (...a: unknown[]) => unknown, sock: object) => (...args: unknown[]) => {
    const out = fn.apply(sock, args);
    if (++reads === 1) t.rtnl().deleteLink(intf);
    return out;
  };
  const rtnl = new Proxy(real, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'sock' || typeof v !== 'object' || v === null) return v;
      const sock = v as Record<string, unknown>;
      return new Proxy(sock, {
        get(s, p) {
          const f = Reflect.get(s, p) as unknown;
          if (typeof f !== 'function') return f;
          const fn = f as (...a: unknown[]) => unknown;
          return p === 'dump' || p === 'get' ? readsThenRemoves(fn, s) : fn.bind(s); // its own private fields need the real this
        },
      });
    },
  });
  return { rtnl, reads: () => reads };
}

test('an interface removed between inspectEnd\'s two reads is reported gone, not an ENODEV error', () => {
  const t = tempNetns('ie');
  t.rtnl().createVeth({ name: 'eth1', peerName: 'eth2' });
  t.rtnl().addAddr('eth1', '10.7.0.1/24');
  const { rtnl, reads } = removingAfterFirstRead(t, 'eth1');
  try {
    const st = inspectEnd({ ns: t.ns, rtnl, intf: 'eth1', ip: '10.7.0.1/24' });
    assert.equal(reads(), 2); // the removal did fall between two reads
    assert.deepEqual(st, { exists: false, up: false, hasIp: false });
  } finally {
    rtnl.close();
    t.cleanup();
  }
});

test('an interface that stays is read with its addresses', () => {
  const t = tempNetns('ie');
  try {
    t.rtnl().createVeth({ name: 'eth1', peerName: 'eth2' });
    t.rtnl().addAddr('eth1', '10.7.0.1/24');
    t.rtnl().setUp('eth1');
    assert.deepEqual(inspectEnd({ ns: t.ns, rtnl: t.rtnl(), intf: 'eth1', ip: '10.7.0.1/24' }), { exists: true, kind: 'veth', up: true, hasIp: true });
  } finally {
    t.cleanup();
  }
});
