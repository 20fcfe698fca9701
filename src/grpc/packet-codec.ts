// The two messages on grpc-wire's hot path, Packet{remot_intf_id=1:int64, frame=2:bytes} and
// BoolResponse{response=1:bool}, in gRPC's length-prefixed framing, through protobuf-es's
// BinaryWriter/BinaryReader. The raw stream writes the prefix and the Packet's fields before the
// frame, then the frame bytes as they are (no copy of the frame); the raw receiver decodes each
// message as its bytes arrive. Bytes identical to the generated codec's (unit-tested).
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { Packet } from './types';
import { MeshnetError } from '../errors';

/** gRPC message prefix: compressed flag (1 byte) + message length (4 bytes, big-endian). */
export const GRPC_PREFIX_BYTES = 5;

/** A malformed message from a peer. */
export class PacketParseError extends MeshnetError {
  readonly code = 'InvalidPacket';
}

function prefixed(fields: Uint8Array, bodyLength: number): Buffer {
  const b = Buffer.allocUnsafe(GRPC_PREFIX_BYTES + fields.length);
  b.writeUInt8(0, 0); // not compressed
  b.writeUInt32BE(fields.length + bodyLength, 1);
  b.set(fields, GRPC_PREFIX_BYTES);
  return b;
}

/** gRPC prefix + Packet fields up to the frame bytes, which the caller writes right after. */
export function packetPrefix(remotIntfId: bigint | number, frameLength: number): Buffer {
  const w = new BinaryWriter();
  if (BigInt(remotIntfId) !== 0n) w.tag(1, WireType.Varint).int64(remotIntfId);
  // The length-delimited header of field 2 alone: the frame follows as its own write.
  if (frameLength > 0) w.tag(2, WireType.LengthDelimited).uint32(frameLength);
  return prefixed(w.finish(), frameLength);
}

/** Decodes one Packet message (without the gRPC prefix); unknown fields are skipped. */
export function decodePacket(msg: Uint8Array): Packet {
  const r = new BinaryReader(msg);
  let remotIntfId = 0n;
  let frame: Uint8Array = new Uint8Array(0);
  while (r.pos < r.len) {
    let field = 0;
    try {
      const [f, wire] = r.tag();
      field = f;
      if (f === 1 && wire === WireType.Varint) remotIntfId = BigInt(r.int64());
      else if (f === 2 && wire === WireType.LengthDelimited) frame = r.bytes();
      else r.skip(wire, f);
    } catch (e) {
      // The reader says "premature EOF"; a peer's operator wants to know which field.
      throw new PacketParseError(field ? `field ${field} runs past the message (${(e as Error).message})` : `a field tag: ${(e as Error).message}`);
    }
  }
  return { remotIntfId, frame };
}

/** BoolResponse in a gRPC frame (proto3: false is the empty message). */
export function boolResponseFrame(response: boolean): Buffer {
  const w = new BinaryWriter();
  if (response) w.tag(1, WireType.Varint).bool(true);
  return prefixed(w.finish(), 0);
}

/** The value of the first BoolResponse in a gRPC response body; false when absent or malformed. */
export function parseBoolResponseFrame(body: Uint8Array): boolean {
  if (body.length < GRPC_PREFIX_BYTES) return false;
  const len = Buffer.from(body.buffer, body.byteOffset, body.length).readUInt32BE(1);
  try {
    const r = new BinaryReader(body.subarray(GRPC_PREFIX_BYTES, GRPC_PREFIX_BYTES + len));
    let v = false;
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (field === 1 && wire === WireType.Varint) v = r.bool();
      else r.skip(wire, field);
    }
    return v;
  } catch {
    return false;
  }
}
