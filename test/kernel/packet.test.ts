// PacketSocket against the real kernel: veth pairs between throw-away namespaces, frames in batches,
// PACKET_IGNORE_OUTGOING, an in-process relay carrying ping (ARP included) and GSO super-frames
// (PACKET_VNET_HDR) for a TCP transfer whose bytes are checked end to end.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { KernelError, PacketSocket, VNET_HDR_LEN, withNetns, txOffloadsEnabled } from '../../src/kernel/index';
import { tempNetns, cleanupAllNetns, sh, type TempNetns } from '../helpers/netns';

after(cleanupAllNetns);

const execFileP = promisify(execFile);
const ETHERTYPE_TEST = 0x88b5; // IEEE local experimental
const BROADCAST = Buffer.alloc(6, 0xff);

/** A frame carrying `seq`, recognisable among the kernel's own IPv6 chatter on a fresh veth. */
function testFrame(seq: number, src: Buffer, size = 200): Buffer {
  const f = Buffer.alloc(size);
  BROADCAST.copy(f, 0);
  src.copy(f, 6);
  f.writeUInt16BE(ETHERTYPE_TEST, 12);
  f.writeUInt32BE(seq, 14);
  for (let i = 18; i < size; i++) f[i] = (seq * 7 + i) & 0xff;
  return f;
}
const isTest = (f: Buffer, off = 0): boolean => f.length >= off + 14 && f.readUInt16BE(off + 12) === ETHERTYPE_TEST;

/** Receive with onReadable until `pred(all)` holds or `ms` pass; returns frames and recv() batch sizes. */
function collect(s: PacketSocket, pred: (got: Buffer[]) => boolean, ms = 3000): Promise<{ frames: Buffer[]; batches: number[] }> {
  const frames: Buffer[] = [];
  const batches: number[] = [];
  return new Promise((resolve) => {
    let stop = (): void => {};
    const done = (): void => {
      clearTimeout(timer);
      stop();
      resolve({ frames, batches });
    };
    const timer = setTimeout(done, ms);
    stop = s.onReadable(() => {
      for (;;) {
        const got = s.recv();
        if (got.length === 0) break;
        batches.push(got.length);
        frames.push(...got);
      }
      if (pred(frames)) done();
    });
  });
}

/** Two namespaces joined by a veth `eth0`—`eth0`, both up (opened sockets first: a down link is fine). */
function vethPair(): { a: TempNetns; b: TempNetns } {
  const a = tempNetns('pk');
  const b = tempNetns('pk');
  a.rtnl().createVeth({ name: 'eth0', peerName: 'eth0', peerNs: b.ns });
  return { a, b };
}

function macOf(t: TempNetns, dev: string): Buffer {
  const mac = t.rtnl().link(dev)?.mac;
  assert.ok(mac, `no MAC for ${dev} in ${t.name}`);
  return Buffer.from(mac.split(':').map((x) => parseInt(x, 16)));
}

test('frames sent on one end of a veth arrive byte-identical on the other, in order, in batches', async () => {
  const { a, b } = vethPair();
  const sa = PacketSocket.open('eth0', { ns: a.ns });
  const sb = PacketSocket.open('eth0', { ns: b.ns, rcvbuf: 4 << 20 });
  try {
    // opened while the link was down: frames flow once it is up, with no stale error
    a.rtnl().setUp('eth0');
    b.rtnl().setUp('eth0');
    assert.equal(sa.ifindex, a.rtnl().link('eth0')!.index);
    assert.equal(sb.batch, 32);
    const src = macOf(a, 'eth0');
    const sent = Array.from({ length: 100 }, (_, i) => testFrame(i, src, 60 + i * 14));
    const copy = sent.map((f) => Buffer.from(f));
    assert.equal(sa.send(sent), 100);
    assert.deepEqual(sent, copy, 'send() leaves the caller\'s buffers alone');

    const { frames, batches } = await collect(sb, (got) => got.filter((f) => isTest(f)).length >= 100);
    const got = frames.filter((f) => isTest(f));
    assert.equal(got.length, 100);
    got.forEach((f, i) => assert.ok(f.equals(sent[i]!), `frame ${i} differs`));
    assert.ok(Math.max(...batches) > 1, `expected batched receives, got batch sizes ${batches.join(',')}`);
    assert.ok(batches.every((n) => n <= 32));

    // returned frames are copies: later receives do not overwrite them
    const keep = Buffer.from(got[0]!);
    assert.equal(sa.send(Array.from({ length: 40 }, (_, i) => testFrame(1000 + i, src))), 40);
    const more = await collect(sb, (f) => f.filter((x) => isTest(x)).length >= 40);
    assert.equal(more.frames.filter((x) => isTest(x)).length, 40);
    assert.ok(got[0]!.equals(keep));

    const st = sb.stats();
    assert.ok(st.rxFrames >= 140);
    assert.ok(st.rxBytes >= sent.reduce((n, f) => n + f.length, 0));
    assert.equal(st.rxTruncated, 0);
    assert.equal(st.rxDropsKernel, 0);
    assert.equal(sa.stats().txFrames, 140);
  } finally {
    sa.close();
    sb.close();
    a.cleanup();
    b.cleanup();
  }
});

test('ignoreOutgoing (the default) keeps a socket from reading back its own frames', async () => {
  const { a, b } = vethPair();
  const sender = PacketSocket.open('eth0', { ns: a.ns });
  const tap = PacketSocket.open('eth0', { ns: a.ns, ignoreOutgoing: false });
  const peer = PacketSocket.open('eth0', { ns: b.ns });
  try {
    a.rtnl().setUp('eth0');
    b.rtnl().setUp('eth0');
    const src = macOf(a, 'eth0');
    assert.equal(sender.send(Array.from({ length: 20 }, (_, i) => testFrame(i, src))), 20);
    const atPeer = await collect(peer, (f) => f.filter((x) => isTest(x)).length >= 20);
    assert.equal(atPeer.frames.filter((x) => isTest(x)).length, 20, 'the frames went out');
    const atTap = await collect(tap, (f) => f.filter((x) => isTest(x)).length >= 20);
    assert.equal(atTap.frames.filter((x) => isTest(x)).length, 20, 'a socket with ignoreOutgoing:false sees outgoing frames');
    // the sender itself: nothing of its own comes back
    await new Promise((r) => setTimeout(r, 100));
    const back = sender.recv(1000);
    assert.deepEqual(back.filter((x) => isTest(x)), []);
    // whatever it did receive (the peer's IPv6 chatter) came from the peer, not from itself
    assert.deepEqual(back.filter((x) => x.subarray(6, 12).equals(src)), []);
  } finally {
    sender.close();
    tap.close();
    peer.close();
    a.cleanup();
    b.cleanup();
  }
});

/**
 * pod A —veth— [host end in node A] PacketSocket ⇄ PacketSocket [host end in node B] —veth— pod B.
 * Pods: eth0 10.79.0.1/24 and 10.79.0.2/24.
 */
interface Lab {
  podA: TempNetns; nodeA: TempNetns; nodeB: TempNetns; podB: TempNetns;
  relay: { sa: PacketSocket; sb: PacketSocket; seen: Buffer[]; dropped: number; stop(): void };
  cleanup(): void;
}

function relayLab(opts: { vnetHdr: boolean; keepFrames?: (f: Buffer) => boolean }): Lab {
  const podA = tempNetns('pka'), nodeA = tempNetns('pkna'), nodeB = tempNetns('pknb'), podB = tempNetns('pkb');
  const all = [podA, nodeA, nodeB, podB];
  const socks: PacketSocket[] = [];
  try {
    podA.rtnl().createVeth({ name: 'eth0', peerName: 'hosta', peerNs: nodeA.ns });
    podB.rtnl().createVeth({ name: 'eth0', peerName: 'hostb', peerNs: nodeB.ns });
    podA.rtnl().addAddr('eth0', '10.79.0.1/24');
    podB.rtnl().addAddr('eth0', '10.79.0.2/24');
    const bufs = { rcvbuf: 8 << 20, sndbuf: 8 << 20, vnetHdr: opts.vnetHdr };
    const sa = PacketSocket.open('hosta', { ns: nodeA.ns, ...bufs });
    socks.push(sa);
    const sb = PacketSocket.open('hostb', { ns: nodeB.ns, ...bufs });
    socks.push(sb);
    for (const [t, dev] of [[podA, 'eth0'], [nodeA, 'hosta'], [nodeB, 'hostb'], [podB, 'eth0']] as const) t.rtnl().setUp(dev);
    const seen: Buffer[] = [];
    const relay = { sa, sb, seen, dropped: 0, stop: () => { stopA(); stopB(); } };
    const pump = (from: PacketSocket, to: PacketSocket) => () => {
      for (;;) {
        const frames = from.recv();
        if (frames.length === 0) return;
        for (const f of frames) if (opts.keepFrames?.(f)) seen.push(f);
        relay.dropped += frames.length - to.send(frames);
      }
    };
    const stopA = sa.onReadable(pump(sa, sb));
    const stopB = sb.onReadable(pump(sb, sa));
    return {
      podA, nodeA, nodeB, podB, relay,
      cleanup: () => {
        for (const s of socks) s.close();
        for (const t of all) t.cleanup();
      },
    };
  } catch (err) {
    for (const s of socks) s.close();
    for (const t of all) t.cleanup();
    throw err;
  }
}

test('relay: ping from pod A reaches pod B across two PacketSockets, ARP included', async () => {
  const arp: Buffer[] = [];
  const lab = relayLab({ vnetHdr: false, keepFrames: (f) => f.readUInt16BE(12) === 0x0806 && arp.push(f) > 0 });
  try {
    // ping runs in a child process: the event loop must stay free to relay
    const { stdout } = await execFileP('ip', ['netns', 'exec', lab.podA.name, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.79.0.2']);
    assert.match(stdout, /3 packets transmitted, 3 received/);
    // pod A learned pod B's MAC through ARP carried by the relay
    const macB = lab.podB.rtnl().link('eth0')!.mac;
    assert.match(sh('ip', ['-n', lab.podA.name, 'neigh', 'show', '10.79.0.2']), new RegExp(`lladdr ${macB}`));
    assert.ok(arp.length >= 2, 'ARP request and reply crossed the relay');
    assert.ok(lab.relay.sa.stats().rxFrames >= 4 && lab.relay.sb.stats().rxFrames >= 4);
    assert.equal(lab.relay.dropped, 0);
  } finally {
    lab.relay.stop();
    lab.cleanup();
  }
});

// Server and client for a TCP transfer checked end to end: both print sha256 and byte count.
const SERVER = `
const net = require('net'), crypto = require('crypto');
const srv = net.createServer((c) => { const h = crypto.createHash('sha256'); let n = 0;
  c.on('data', (d) => { h.update(d); n += d.length; });
  c.on('end', () => { console.log(JSON.stringify({ sha: h.digest('hex'), n })); c.end(); srv.close(); }); });
srv.listen(5201, '10.79.0.2', () => console.log('listening'));`;
const CLIENT = `
const net = require('net'), crypto = require('crypto');
const data = crypto.randomBytes(24 << 20);
const c = net.connect(5201, '10.79.0.2', () => c.end(data));
c.on('close', () => console.log(JSON.stringify({ sha: crypto.createHash('sha256').update(data).digest('hex'), n: data.length })));`;

test('vnetHdr: TSO super-frames from pod A cross the relay whole and the TCP stream arrives intact', { timeout: 60_000 }, async () => {
  const lab = relayLab({ vnetHdr: true, keepFrames: (f) => f.length > VNET_HDR_LEN + 1514 });
  try {
    assert.equal(withNetns(lab.podA.ns, () => txOffloadsEnabled('eth0')).tso, true, 'precondition: TSO on in pod A');
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: '' };
    const server = spawn('ip', ['netns', 'exec', lab.podB.name, process.execPath, '-e', SERVER], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const serverDone = new Promise<number | null>((resolve) => server.on('close', resolve));
    await new Promise<void>((resolve, reject) => {
      server.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('listening')) resolve();
      });
      server.on('error', reject);
      server.on('close', () => reject(new Error(`server exited early: ${out}`)));
    });
    let client;
    try {
      client = await execFileP('ip', ['netns', 'exec', lab.podA.name, process.execPath, '-e', CLIENT], { env, timeout: 30_000 });
    } finally {
      if (server.exitCode === null) setTimeout(() => server.kill(), 30_000).unref();
    }
    assert.equal(await serverDone, 0);
    const sent = JSON.parse(client.stdout) as { sha: string; n: number };
    const recvd = JSON.parse(out.slice(out.indexOf('{'))) as { sha: string; n: number };
    assert.equal(recvd.n, 24 << 20);
    assert.equal(recvd.sha, sent.sha, 'the stream arrived byte-identical');

    // super-frames crossed whole: bigger than the 1500-byte MTU, with a TCPv4 GSO header
    const big = lab.relay.seen;
    assert.ok(big.length > 0, 'at least one frame larger than the MTU');
    const largest = Math.max(...big.map((f) => f.length));
    assert.ok(largest > 1514 + VNET_HDR_LEN + 1000, `largest frame ${largest} bytes`);
    const f = big[0]!;
    assert.equal(f[1], 1, 'gso_type VIRTIO_NET_HDR_GSO_TCPV4');
    assert.ok(f.readUInt16LE(4) > 0 && f.readUInt16LE(4) <= 1500, 'gso_size is the pod\'s MSS');
    assert.equal(f.readUInt16BE(VNET_HDR_LEN + 12), 0x0800, 'an IPv4 Ethernet frame follows the header');
    assert.equal(lab.relay.sa.stats().rxTruncated, 0);
  } finally {
    lab.relay.stop();
    lab.cleanup();
  }
});

test('errors: missing interface, closed sockets, bad frames, a deleted interface', async () => {
  const { a, b } = vethPair();
  try {
    assert.throws(() => PacketSocket.open('nope0', { ns: a.ns }), (e: unknown) =>
      e instanceof KernelError && e.code === 'ENODEV' && e.message.includes('nope0') && e.message.includes(a.ns.path));
    assert.throws(() => PacketSocket.open('eth0', { batch: 0 }), /batch/);
    assert.throws(() => PacketSocket.open('bad/name'), /invalid interface name/);

    a.rtnl().setUp('eth0');
    b.rtnl().setUp('eth0');
    const s = PacketSocket.open('eth0', { ns: a.ns, frameSize: 1514 });
    assert.throws(() => s.send([Buffer.alloc(1515)]), RangeError);
    assert.throws(() => s.send([Buffer.alloc(10)]), RangeError);
    // bigger than the MTU but within frameSize: the kernel refuses, nothing was sent
    const s2 = PacketSocket.open('eth0', { ns: a.ns, frameSize: 4000 });
    assert.throws(() => s2.send([testFrame(0, macOf(a, 'eth0'), 3000)]), (e: unknown) =>
      e instanceof KernelError && e.code === 'EMSGSIZE' && e.message.includes('eth0'));
    s2.close();

    // a frame longer than frameSize is dropped and counted, never returned cut short
    const small = PacketSocket.open('eth0', { ns: b.ns, frameSize: 100 });
    const bigSender = PacketSocket.open('eth0', { ns: a.ns });
    try {
      assert.equal(bigSender.send([testFrame(7, macOf(a, 'eth0'), 300)]), 1);
      const got = await collect(small, () => small.stats().rxTruncated > 0, 1000);
      assert.deepEqual(got.frames.filter((x) => isTest(x)), []);
      assert.ok(got.frames.every((x) => x.length <= 100));
      assert.ok(small.stats().rxTruncated >= 1);
    } finally {
      small.close();
      bigSender.close();
    }

    const stop = s.onReadable(() => {});
    assert.throws(() => s.onReadable(() => {}), /already watched/);
    stop();
    stop();
    s.close();
    s.close();
    assert.equal(s.fd, -1);
    assert.equal(s.closed, true);
    assert.throws(() => s.recv(), /recv on eth0 in netns .*: socket is closed/);
    assert.throws(() => s.send([testFrame(0, BROADCAST)]), /socket is closed/);
    assert.throws(() => s.onReadable(() => {}), /socket is closed/);
    assert.equal(typeof s.stats().txFrames, 'number');

    // the interface goes away under an open socket: one ENETDOWN, then quiet; sending fails
    const t = PacketSocket.open('eth0', { ns: b.ns });
    try {
      a.rtnl().deleteLink('eth0');
      assert.throws(() => t.recv(), (e: unknown) => e instanceof KernelError && e.code === 'ENETDOWN');
      assert.deepEqual(t.recv(), []);
      assert.throws(() => t.send([testFrame(0, BROADCAST)]), (e: unknown) => e instanceof KernelError && e.message.includes('eth0'));
    } finally {
      t.close();
    }
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

test('a watched socket keeps delivering after its interface goes down and comes back up (libuv stops a poll on POLLERR)', async () => {
  const { a, b } = vethPair();
  const sa = PacketSocket.open('eth0', { ns: a.ns });
  const sb = PacketSocket.open('eth0', { ns: b.ns });
  try {
    for (const t of [a, b]) t.rtnl().setUp('eth0');
    const got: Buffer[] = [];
    const errors: string[] = [];
    const stop = sb.onReadable(() => {
      for (;;) {
        let frames: Buffer[];
        try {
          frames = sb.recv();
        } catch (e) {
          errors.push((e as Error).message); // ENETDOWN, reported once
          return;
        }
        if (frames.length === 0) return;
        got.push(...frames.filter((f) => isTest(f)));
      }
    });
    const waitFor = async (n: number, tries = 10) => {
      for (let i = 0; i < tries && got.length < n; i++) await new Promise((r) => setTimeout(r, 20));
    };
    const src = macOf(a, 'eth0');
    sa.send([testFrame(1, src)]);
    await waitFor(1, 150);
    assert.equal(got.length, 1);
    b.rtnl().setDown('eth0');
    await new Promise((r) => setTimeout(r, 100));
    b.rtnl().setUp('eth0');
    for (let i = 0; i < 50 && !b.rtnl().link('eth0')?.carrier; i++) await new Promise((r) => setTimeout(r, 20));
    // A frame sent right at the carrier transition may be lost, as on any link: keep sending
    // until one arrives. Without re-arming the watch, none ever would.
    for (let seq = 2; seq < 30 && got.length < 2; seq++) {
      sa.send([testFrame(seq, src)]);
      await waitFor(2);
    }
    stop();
    assert.match(errors.join(' '), /ENETDOWN/, 'the down was reported');
    assert.equal(got.length >= 2, true, 'frames sent after the link came back arrive');
    assert.equal(got[0]!.readUInt32BE(14), 1);
  } finally {
    sa.close();
    sb.close();
    a.cleanup();
    b.cleanup();
  }
});
