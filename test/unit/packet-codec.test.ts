// grpc-wire's hot-path messages (packet-codec.ts) against the generated protobuf codec: the bytes
// a peer built from upstream's proto sends and expects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BoolResponseSchema, PacketSchema } from '../../src/grpc/gen/meshnet/v1beta1/meshnet_pb';
import { PacketParseError, boolResponseFrame, decodePacket, packetPrefix, parseBoolResponseFrame } from '../../src/grpc/packet-codec';

const frame = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i & 0xff));

test('a prefix plus the frame bytes is a gRPC message the generated codec reads as the same Packet', () => {
  for (const [id, len] of [[7n, 1514], [0n, 60], [2n ** 53n - 1n, 65000], [-1n, 1], [42n, 0]] as const) {
    const prefix = packetPrefix(id, len);
    const wire = Buffer.concat([prefix, frame(len)]);
    assert.equal(wire[0], 0, 'not compressed');
    assert.equal(wire.readUInt32BE(1), wire.length - 5, 'length prefix covers the message');
    const p = fromBinary(PacketSchema, wire.subarray(5));
    assert.equal(p.remotIntfId, id);
    assert.deepEqual(Buffer.from(p.frame), frame(len));
    assert.deepEqual(wire.subarray(5), Buffer.from(toBinary(PacketSchema, create(PacketSchema, { remotIntfId: id, frame: frame(len) }))));
  }
});

test('a Packet encoded by the generated codec decodes to the same id and frame', () => {
  const bytes = toBinary(PacketSchema, create(PacketSchema, { remotIntfId: 123456789012n, frame: frame(300) }));
  const p = decodePacket(bytes);
  assert.equal(p.remotIntfId, 123456789012n);
  assert.deepEqual(Buffer.from(p.frame), frame(300));
});

test('fields a newer peer adds are skipped', () => {
  const known = Buffer.from(toBinary(PacketSchema, create(PacketSchema, { remotIntfId: 5n, frame: frame(10) })));
  const extra = Buffer.from([0x18, 0x2a, 0x22, 0x03, 1, 2, 3]); // field 3 varint 42, field 4 bytes [1,2,3]
  const p = decodePacket(Buffer.concat([extra, known]));
  assert.deepEqual([p.remotIntfId, Buffer.from(p.frame)], [5n, frame(10)]);
});

test('a frame field longer than the message is refused, naming the field', () => {
  assert.throws(() => decodePacket(Buffer.from([0x12, 0x7f, 0x01, 0x02])), (e: unknown) =>
    e instanceof PacketParseError && e.code === 'InvalidPacket' && /field 2 runs past the message/.test(e.message));
});

test('BoolResponse frames match the generated codec both ways', () => {
  for (const v of [true, false]) {
    const f = boolResponseFrame(v);
    assert.equal(f.readUInt32BE(1), f.length - 5);
    assert.equal(fromBinary(BoolResponseSchema, f.subarray(5)).response, v);
    assert.equal(parseBoolResponseFrame(f), v);
  }
  const generated = toBinary(BoolResponseSchema, create(BoolResponseSchema, { response: true }));
  const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, generated.length]), generated]);
  assert.equal(parseBoolResponseFrame(framed), true);
  assert.equal(parseBoolResponseFrame(Buffer.from([0, 0])), false, 'a truncated body is no answer');
});
