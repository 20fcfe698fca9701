import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Rtnl, KernelError, createTap, closeFd, NetNs } from '../../src/kernel/index';
import { tempNetns, cleanupAllNetns, sh } from '../helpers/netns';

after(cleanupAllNetns);

function ipLinkJson(ns: string, dev: string): Record<string, unknown> {
  const out = JSON.parse(sh('ip', ['-n', ns, '-d', '-j', 'link', 'show', 'dev', dev])) as Record<string, unknown>[];
  return out[0]!;
}

test('veth with the peer created directly in another netns', () => {
  const a = tempNetns();
  const b = tempNetns();
  try {
    const ra = a.rtnl();
    const rb = b.rtnl();
    ra.createVeth({ name: 'eth1', peerName: 'eth1', peerNs: b.ns, mtu: 9000, mac: '02:00:00:00:00:0a', peerMac: '02:00:00:00:00:0b' });
    const ea = ra.link('eth1');
    const eb = rb.link('eth1');
    assert.ok(ea && eb);
    assert.equal(ea.kind, 'veth');
    assert.equal(eb.kind, 'veth');
    assert.equal(ea.peerIndex, eb.index);
    assert.equal(eb.peerIndex, ea.index);
    assert.equal(ea.mtu, 9000);
    assert.equal(eb.mtu, 9000);
    assert.equal(ea.mac, '02:00:00:00:00:0a');
    assert.equal(eb.mac, '02:00:00:00:00:0b');
    assert.equal(typeof ea.linkNetnsId, 'number');
    assert.equal(ea.up, false);
    // cross-check with iproute2
    const ja = ipLinkJson(a.name, 'eth1');
    assert.equal(ja['ifindex'], ea.index);
    assert.equal(ja['link_index'], eb.index);
    assert.equal((ja['linkinfo'] as { info_kind: string }).info_kind, 'veth');
    assert.equal(ja['address'], '02:00:00:00:00:0a');
    // links() sees it too
    assert.deepEqual(ra.links().map((l) => l.name).sort(), ['eth1', 'lo']);
    // carrier comes with both ends up
    ra.setUp('eth1');
    rb.setUp('eth1');
    const up = ra.link('eth1')!;
    assert.equal(up.up, true);
    assert.equal(up.carrier, true);
    assert.equal(up.operState, 'up');
    rb.setDown('eth1');
    const half = ra.link('eth1')!;
    assert.equal(half.carrier, false);
    assert.notEqual(half.operState, 'up'); // veth reports 'down' (no lower device) when its peer is down
    assert.equal(rb.link('eth1')!.up, false);
    // deleting one end removes both
    assert.equal(ra.deleteLink('eth1'), true);
    assert.equal(rb.link('eth1'), undefined);
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

test('veth with both ends in the socket netns; linkByIndex', () => {
  const a = tempNetns();
  try {
    const r = a.rtnl();
    r.createVeth({ name: 'va', peerName: 'vb' });
    const va = r.link('va')!;
    const vb = r.linkByIndex(va.peerIndex!)!;
    assert.equal(vb.name, 'vb');
    assert.equal(vb.peerIndex, va.index);
    assert.equal(r.linkByIndex(999999), undefined);
  } finally {
    a.cleanup();
  }
});

test('mtu, mac, rename, setNetns (with and without a new name)', () => {
  const a = tempNetns();
  const b = tempNetns();
  try {
    const ra = a.rtnl();
    const rb = b.rtnl();
    ra.createVeth({ name: 'x0', peerName: 'x1' });
    ra.setMtu('x0', 1400);
    assert.equal(ra.link('x0')!.mtu, 1400);
    ra.setMac('x0', '0A:BB:CC:DD:EE:01');
    assert.equal(ra.link('x0')!.mac, '0a:bb:cc:dd:ee:01');
    ra.rename('x0', 'y0');
    assert.equal(ra.link('x0'), undefined);
    assert.equal(ra.link('y0')!.mtu, 1400);
    ra.setNetns('y0', b.ns);
    assert.equal(ra.link('y0'), undefined);
    assert.ok(rb.link('y0'));
    rb.setNetns('y0', a.ns, 'z0');
    assert.equal(rb.link('y0'), undefined);
    const z = ra.link('z0')!;
    assert.equal(z.peerIndex, ra.link('x1')!.index);
    assert.match(sh('ip', ['-n', a.name, 'link', 'show', 'z0']), /mtu 1400/);
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

test('duplicate link is EEXIST, missing link is ENODEV, messages name the op', () => {
  const a = tempNetns();
  try {
    const r = a.rtnl();
    r.createVeth({ name: 'd0', peerName: 'd1' });
    assert.throws(() => r.createVeth({ name: 'd0', peerName: 'd2' }), (e: unknown) => {
      assert.ok(e instanceof KernelError);
      assert.equal(e.code, 'EEXIST');
      assert.equal(e.errno, 17);
      assert.ok(e.op.startsWith('creating veth d0'), e.op);
      assert.ok(e.message.includes(a.name), e.message);
      assert.match(e.message, /: EEXIST \(/);
      return true;
    });
    assert.throws(() => r.setUp('nope0'), (e: unknown) => {
      assert.ok(e instanceof KernelError);
      assert.equal(e.code, 'ENODEV');
      assert.match(e.message, /setting nope0 up/);
      return true;
    });
    assert.throws(() => r.rename('nope0', 'nope1'), (e: unknown) => e instanceof KernelError && e.code === 'ENODEV' && /renaming nope0/.test(e.message));
    assert.throws(() => r.addAddr('nope0', '10.1.1.1/24'), (e: unknown) => e instanceof KernelError && e.code === 'ENODEV' && e.message.includes('10.1.1.1/24'));
    assert.equal(r.link('nope0'), undefined);
    assert.equal(r.deleteLink('nope0'), false);
    assert.equal(r.deleteLink('d0'), true);
    assert.equal(r.deleteLink('d0'), false);
    assert.equal(r.link('d1'), undefined);
  } finally {
    a.cleanup();
  }
});

test('bad input is a plain Error naming the field, and changes nothing', () => {
  const a = tempNetns();
  try {
    const r = a.rtnl();
    const plain = (field: string) => (e: unknown) => e instanceof Error && !(e instanceof KernelError) && e.message.startsWith(`${field}:`);
    assert.throws(() => r.createVeth({ name: '', peerName: 'p' }), plain('name'));
    assert.throws(() => r.createVeth({ name: 'a234567890123456', peerName: 'p' }), plain('name'));
    assert.throws(() => r.createVeth({ name: 'ok', peerName: 'bad/name' }), plain('peerName'));
    assert.throws(() => r.createVeth({ name: 'ok', peerName: 'p', mac: 'zz:00:00:00:00:00' }), plain('mac'));
    assert.throws(() => r.createVeth({ name: 'ok', peerName: 'p', mtu: 10 }), plain('mtu'));
    assert.throws(() => r.addAddr('lo', '10.0.0.1'), plain('cidr'));
    assert.throws(() => r.addAddr('lo', '10.0.0.1/33'), plain('cidr'));
    assert.throws(() => r.addRoute({ dst: 'nonsense' }), plain('dst'));
    assert.throws(() => r.addRoute({ dst: '10.0.0.0/8', gw: 'fd00::1' }), plain('gw'));
    assert.throws(() => r.createVxlan({ name: 'vx', vni: 1 << 24 }), plain('vni'));
    assert.throws(() => r.setMac('lo', '00:11:22:33:44'), plain('mac'));
    assert.deepEqual(r.links().map((l) => l.name), ['lo']);
  } finally {
    a.cleanup();
  }
});

test('bridge and setMaster', () => {
  const a = tempNetns();
  try {
    const r = a.rtnl();
    r.createBridge('br0', { mtu: 1450 });
    const br = r.link('br0')!;
    assert.equal(br.kind, 'bridge');
    assert.equal(br.mtu, 1450);
    r.createVeth({ name: 'p0', peerName: 'p1', mtu: 1450 });
    r.setMaster('p0', 'br0');
    assert.equal(r.link('p0')!.master, br.index);
    assert.match(sh('ip', ['-n', a.name, 'link', 'show', 'p0']), /master br0/);
    r.setMaster('p0', null);
    assert.equal(r.link('p0')!.master, undefined);
    assert.throws(() => r.createBridge('br0'), (e: unknown) => e instanceof KernelError && e.code === 'EEXIST');
  } finally {
    a.cleanup();
  }
});

test('macvlan on a parent in the socket netns, created in another netns', () => {
  const node = tempNetns();
  const pod = tempNetns();
  try {
    const rn = node.rtnl();
    rn.createVeth({ name: 'uplink', peerName: 'uplink-p' });
    rn.createMacvlan({ name: 'mv0', parent: 'uplink', mode: 'bridge', ns: pod.ns, mtu: 1400, mac: '02:aa:00:00:00:01' });
    assert.equal(rn.link('mv0'), undefined);
    const mv = pod.rtnl().link('mv0')!;
    assert.equal(mv.kind, 'macvlan');
    assert.equal(mv.mtu, 1400);
    assert.equal(mv.mac, '02:aa:00:00:00:01');
    const j = ipLinkJson(pod.name, 'mv0');
    assert.equal((j['linkinfo'] as { info_data: { mode: string } }).info_data.mode, 'bridge');
    // and one in the socket netns
    rn.createMacvlan({ name: 'mv1', parent: 'uplink', mode: 'private' });
    assert.equal(rn.link('mv1')!.kind, 'macvlan');
    assert.throws(() => rn.createMacvlan({ name: 'mv2', parent: 'nope0' }), (e: unknown) => e instanceof KernelError && e.code === 'ENODEV' && /parent/.test(e.message));
  } finally {
    node.cleanup();
    pod.cleanup();
  }
});

test('vxlan between two emulated nodes carries pod traffic (vxlan created into the pod netns)', () => {
  const nodeA = tempNetns('ktn');
  const nodeB = tempNetns('ktn');
  const podA = tempNetns('ktp');
  const podB = tempNetns('ktp');
  try {
    const ra = nodeA.rtnl();
    const rb = nodeB.rtnl();
    ra.createVeth({ name: 'u0', peerName: 'u0', peerNs: nodeB.ns });
    ra.addAddr('u0', '10.200.0.1/24');
    rb.addAddr('u0', '10.200.0.2/24');
    ra.setUp('u0');
    rb.setUp('u0');
    ra.createVxlan({ name: 'vx0', vni: 4242, local: '10.200.0.1', remote: '10.200.0.2', dev: 'u0', mtu: 1450, ns: podA.ns, devGroup: 77 });
    rb.createVxlan({ name: 'vx0', vni: 4242, local: '10.200.0.2', remote: '10.200.0.1', dev: 'u0', mtu: 1450, ns: podB.ns, learning: false });
    assert.equal(ra.link('vx0'), undefined);
    const vx = podA.rtnl().link('vx0')!;
    assert.equal(vx.kind, 'vxlan');
    assert.equal(vx.mtu, 1450);
    const info = (ipLinkJson(podA.name, 'vx0')['linkinfo'] as { info_data: Record<string, unknown> }).info_data;
    assert.equal(info['id'], 4242);
    assert.equal(info['port'], 4789);
    assert.equal(info['remote'], '10.200.0.2');
    assert.equal(info['local'], '10.200.0.1');
    // The same parameters as LinkInfo reports them (the underlay ifindex is in the node's netns).
    assert.deepEqual(vx.vxlan, { vni: 4242, remote: '10.200.0.2', local: '10.200.0.1', dev: ra.link('u0')!.index, dstPort: 4789 });
    assert.equal(vx.group, 77, 'device group set at creation');
    for (const [p, ip] of [[podA, '192.168.77.1/24'], [podB, '192.168.77.2/24']] as const) {
      p.rtnl().addAddr('vx0', ip);
      p.rtnl().setUp('vx0');
    }
    sh('ip', ['netns', 'exec', podA.name, 'ping', '-c1', '-W2', '192.168.77.2']);
    // a vxlan in the socket netns with a custom port and no underlay
    ra.createVxlan({ name: 'vx1', vni: 7, remote: '10.200.0.9', dstPort: 8472 });
    assert.equal((ipLinkJson(nodeA.name, 'vx1')['linkinfo'] as { info_data: { port: number } }).info_data.port, 8472);
    assert.throws(() => ra.createVxlan({ name: 'vx2', vni: 7, remote: '10.200.0.9', dstPort: 8472 }), (e: unknown) => e instanceof KernelError && e.code === 'EEXIST');
  } finally {
    for (const t of [podA, podB, nodeA, nodeB]) t.cleanup();
  }
});

test('tap: fd-owned and persistent, in another netns', () => {
  const a = tempNetns();
  try {
    const r = a.rtnl();
    const fd = createTap('tap0', { ns: a.ns, vnetHdr: true });
    try {
      assert.ok(fd >= 0);
      assert.equal(r.link('tap0')!.kind, 'tun');
      assert.match(sh('ip', ['-n', a.name, '-d', 'link', 'show', 'tap0']), /tun type tap/);
    } finally {
      closeFd(fd);
    }
    assert.equal(r.link('tap0'), undefined, 'a non-persistent tap goes with its fd');
    assert.equal(createTap('tap1', { ns: a.ns, persistent: true }), -1);
    assert.equal(r.link('tap1')!.kind, 'tun');
    assert.equal(r.deleteLink('tap1'), true);
    assert.throws(() => createTap('bad/tap'), /name:/);
  } finally {
    a.cleanup();
  }
});

test('Rtnl sockets stay in their netns for life', () => {
  const a = tempNetns();
  const cur = NetNs.current();
  try {
    const r = Rtnl.open(a.ns);
    try {
      r.createVeth({ name: 'life0', peerName: 'life1' });
      assert.ok(r.link('life0'));
      const root = Rtnl.open();
      try {
        assert.equal(root.link('life0'), undefined);
      } finally {
        root.close();
      }
    } finally {
      r.close();
      r.close();
    }
    assert.throws(() => r.links(), /closed/);
  } finally {
    cur.close();
    a.cleanup();
  }
});

test('device groups: veth ends carry the group, deleteGroup removes them all (and their peers) at once', () => {
  const a = tempNetns('grpa');
  const b = tempNetns('grpb');
  const ra = a.rtnl();
  const rb = b.rtnl();
  try {
    for (let i = 1; i <= 3; i++) ra.createVeth({ name: `g${i}`, peerName: `h${i}`, peerNs: b.ns, group: 4242 });
    ra.createVeth({ name: 'keep', peerName: 'keeppeer', peerNs: b.ns });
    assert.deepEqual(ra.links().filter((l) => l.group === 4242).map((l) => l.name).sort(), ['g1', 'g2', 'g3']);
    assert.equal(rb.link('h2')?.group, 4242, 'the peer end is in the group too');
    assert.equal(ra.deleteGroup(4242), true);
    assert.deepEqual(ra.links().map((l) => l.name).sort(), ['keep', 'lo']);
    assert.deepEqual(rb.links().map((l) => l.name).sort(), ['keeppeer', 'lo'], 'peers went with them');
    assert.equal(ra.deleteGroup(4242), false, 'an empty group is not an error');
    assert.throws(() => ra.deleteGroup(0), /group 0/);
  } finally {
    a.cleanup();
    b.cleanup();
  }
});
