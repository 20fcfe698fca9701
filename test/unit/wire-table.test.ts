// The wire table (src/wire/table.ts) behind fake sockets and streams: O(1) delivery by wire id,
// frames from a pod addressed with the peer's id, drops counted, never thrown. One behaviour each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Packet } from '../../src/grpc';
import { WireTable, type FrameSocket } from '../../src/wire/table';
import { memoryLogger } from '../../src/log';

class FakeSocket implements FrameSocket {
  inbox: Buffer[] = []; // frames the pod sent (what recv returns)
  written: Buffer[] = []; // frames delivered to the pod
  full = false;
  failing: Error | undefined;
  closed = false;
  readable: (() => void) | undefined;
  recv(): Buffer[] {
    if (this.failing) throw this.failing;
    return this.inbox.splice(0);
  }
  send(frames: readonly Buffer[]): number {
    if (this.full) return 0;
    this.written.push(...frames);
    return frames.length;
  }
  onReadable(cb: () => void): () => void {
    this.readable = cb;
    return () => { this.readable = undefined; };
  }
  close(): void {
    this.closed = true;
  }
  stats() {
    return { rxBytes: 0, txBytes: 0 };
  }
  /** The pod sends frames: the socket becomes readable. */
  podSends(...frames: Buffer[]): void {
    this.inbox.push(...frames);
    this.readable?.();
  }
}

function setup() {
  const sent = new Map<string, Packet[]>();
  const logs: string[] = [];
  const table = new WireTable((node) => ({ send: (p) => { (sent.get(node) ?? sent.set(node, []).get(node)!).push(p); return true; } }), memoryLogger(logs));
  const wire = (id: bigint, peerNode: string, peerId: bigint) => {
    const sock = new FakeSocket();
    table.add({ id, peerNode, peerId, podNetns: '/var/run/netns/p', podIntf: `eth${id}` }, `gw${id}`, sock);
    return sock;
  };
  return { table, sent, logs, wire };
}

const frame = (n: number) => Buffer.alloc(60, n);

test('a frame from a peer is written to the wire its id names, and to no other', () => {
  const { table, wire } = setup();
  const a = wire(1n, '192.0.2.12', 7n);
  const b = wire(2n, '192.0.2.12', 8n);
  table.deliverOne({ remotIntfId: 2n, frame: frame(2) });
  assert.deepEqual([a.written.length, b.written], [0, [frame(2)]]);
  assert.equal(table.counters.framesIn, 1);
});

test('a frame for a wire id this node does not have is counted, not delivered', () => {
  const { table, wire } = setup();
  const a = wire(1n, '192.0.2.12', 7n);
  table.deliverOne({ remotIntfId: 99n, frame: frame(1) });
  assert.deepEqual([a.written.length, table.counters.unknownWire, table.counters.framesIn], [0, 1, 0]);
});

test('a host end that cannot take a frame (full or failing) drops it and counts it', () => {
  const { table, wire } = setup();
  const a = wire(1n, '192.0.2.12', 7n);
  a.full = true;
  table.deliverOne({ remotIntfId: 1n, frame: frame(1) });
  a.full = false;
  a.send = () => { throw new Error('ENETDOWN'); };
  table.deliverOne({ remotIntfId: 1n, frame: frame(2) });
  assert.deepEqual([table.counters.sendFailed, table.counters.framesIn], [2, 0]);
});

test('frames a pod sends go to its peer node\'s stream, addressed with the peer\'s id for the wire', () => {
  const { sent, wire, table } = setup();
  const a = wire(1n, '192.0.2.12', 7n);
  const b = wire(2n, '192.0.2.13', 9n);
  a.podSends(frame(1), frame(2));
  b.podSends(frame(3));
  assert.deepEqual(sent.get('192.0.2.12')!.map((p) => [p.remotIntfId, p.frame]), [[7n, frame(1)], [7n, frame(2)]]);
  assert.deepEqual(sent.get('192.0.2.13')!.map((p) => [p.remotIntfId, p.frame]), [[9n, frame(3)]]);
  assert.equal(table.counters.framesOut, 3);
});

test('after setPeerId (an upstream peer\'s own numbering) frames carry the new id', () => {
  const { sent, wire, table } = setup();
  const a = wire(1n, '192.0.2.12', 7n);
  table.setPeerId(1n, 4242n);
  a.podSends(frame(1));
  assert.equal(sent.get('192.0.2.12')![0]!.remotIntfId, 4242n);
});

test('a host end that went down is logged and keeps its place in the table', () => {
  const { table, wire, logs, sent } = setup();
  const a = wire(1n, '192.0.2.12', 7n);
  a.failing = new Error('reading gw1: ENETDOWN (Network is down)');
  a.podSends(frame(1));
  assert.match(logs.join('\n'), /wire 1 \(eth1\): reading gw1: ENETDOWN/);
  a.failing = undefined;
  a.podSends(frame(2));
  // The error was reported once; what waited in the socket is relayed on the next read.
  assert.deepEqual(sent.get('192.0.2.12')!.map((p) => p.frame), [frame(1), frame(2)]);
  assert.equal(table.size, 1);
});

test('a removed wire stops relaying, its socket is closed, and frames for its id become unknown', () => {
  const { table, wire } = setup();
  const a = wire(1n, '192.0.2.12', 7n);
  assert.equal(table.remove(1n)?.hostIntf, 'gw1');
  assert.deepEqual([a.closed, a.readable, table.size], [true, undefined, 0]);
  table.deliverOne({ remotIntfId: 1n, frame: frame(1) });
  assert.equal(table.counters.unknownWire, 1);
  assert.equal(table.remove(1n), undefined, 'removing twice finds nothing');
});

test('a frame from a node that is not the wire\'s peer is dropped and counted (no injection by wire id)', () => {
  const { table, wire } = setup();
  const a = wire(1n, '192.0.2.12', 7n);
  table.deliverOne({ remotIntfId: 1n, frame: frame(1) }, '192.0.2.250');
  table.deliverOne({ remotIntfId: 1n, frame: frame(2) }, '192.0.2.12');
  assert.deepEqual(a.written, [frame(2)]);
  assert.deepEqual([table.counters.wrongPeer, table.counters.framesIn], [1, 1]);
});

test('frames for unknown wire ids are logged, once per 10 s however many arrive, with how many were held back', () => {
  const { table, logs } = setup();
  for (let i = 0; i < 50; i++) table.deliverOne({ remotIntfId: 999n + BigInt(i), frame: new Uint8Array(60) }, '192.0.2.12');
  assert.equal(table.counters.unknownWire, 50);
  assert.deepEqual(logs.filter((l) => l.includes('which this node does not have')), ['frame for wire id 999, which this node does not have, from 192.0.2.12 (dropped; counted in meshnet_dataplane_unknown_wire_frames_total)']);
});
