// Kernel-layer additions for the meta plugins: link aliases (link-alias.ts) and the ARP
// duplicate-address probe (arp-probe.ts), against the real kernel in throw-away namespaces.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { KernelError } from '../../src/kernel/index';
import { linkAlias, setLinkAlias } from '../../src/kernel/link-alias';
import { arpProbe } from '../../src/kernel/arp-probe';
import { tempNetns, cleanupAllNetns, sh } from '../helpers/netns';

after(cleanupAllNetns);

test('link alias: set, read back (also by ip), clear; undefined for a missing link', () => {
  const a = tempNetns();
  try {
    a.rtnl().createBridge('br0');
    assert.equal(linkAlias('br0', a.ns), '');
    setLinkAlias('br0', 'meta-plugins/veth primary=eth0', a.ns);
    assert.equal(linkAlias('br0', a.ns), 'meta-plugins/veth primary=eth0');
    assert.match(sh('ip', ['-n', a.name, 'link', 'show', 'br0']), /alias meta-plugins\/veth primary=eth0/);
    setLinkAlias('br0', '', a.ns);
    assert.equal(linkAlias('br0', a.ns), '');
    assert.equal(linkAlias('nope0', a.ns), undefined);
    assert.throws(() => setLinkAlias('nope0', 'x', a.ns), (e: unknown) => e instanceof KernelError && e.code === 'ENODEV');
    assert.throws(() => setLinkAlias('br0', 'x'.repeat(256), a.ns), /alias: must be a string shorter than 256 bytes/);
  } finally {
    a.cleanup();
  }
});

test('ARP probe finds the host that owns an address and nothing for a free one', () => {
  const a = tempNetns();
  const b = tempNetns();
  try {
    a.rtnl().createVeth({ name: 'p0', peerName: 'p0', peerNs: b.ns });
    a.rtnl().addAddr('p0', '10.9.0.1/24');
    a.rtnl().setUp('p0');
    b.rtnl().setUp('p0');
    const owner = a.rtnl().link('p0')!.mac;
    assert.equal(arpProbe(b.ns, 'p0', '10.9.0.1', { retries: 3, intervalMs: 100 }), owner);
    const t0 = Date.now();
    assert.equal(arpProbe(b.ns, 'p0', '10.9.0.2', { retries: 2, intervalMs: 50 }), undefined);
    assert.ok(Date.now() - t0 >= 100, 'waits retries × interval before saying "free"');
    // Our own address does not count as a conflict.
    b.rtnl().addAddr('p0', '10.9.0.3/24');
    assert.equal(arpProbe(b.ns, 'p0', '10.9.0.3', { retries: 1, intervalMs: 50 }), undefined);
    assert.throws(() => arpProbe(b.ns, 'p0', 'fd00::1'), /IPv4 only/);
    assert.throws(() => arpProbe(b.ns, 'nope0', '10.9.0.1'), (e: unknown) => e instanceof KernelError && e.code === 'ENODEV');
  } finally {
    a.cleanup();
    b.cleanup();
  }
});
