// Plain objects (types.ts) → message init for protobuf-es, driven by the message descriptor: int64
// fields accept a bigint or a safe-integer number and are range-checked; absent fields take the
// proto3 default. Input is checked here, at the boundary, and errors name the field.
import { ScalarType, type DescField, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';

const SIGNED_64 = new Set<ScalarType>([ScalarType.INT64, ScalarType.SINT64, ScalarType.SFIXED64]);
const UNSIGNED_64 = new Set<ScalarType>([ScalarType.UINT64, ScalarType.FIXED64]);
const MIN_I64 = -(2n ** 63n);
const MAX_I64 = 2n ** 63n - 1n;
const MAX_U64 = 2n ** 64n - 1n;

/** A bigint for an int64 field; numbers must be safe integers. */
export function toInt64(value: unknown, field: string, unsigned = false): bigint {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  else throw new TypeError(`${field}: expected an integer (bigint or safe-integer number), got ${describe(value)}`);
  const lo = unsigned ? 0n : MIN_I64;
  const hi = unsigned ? MAX_U64 : MAX_I64;
  if (v < lo || v > hi) throw new RangeError(`${field}: ${v} is outside the ${unsigned ? 'uint64' : 'int64'} range`);
  return v;
}

function describe(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `string "${v}"`;
  return v === null ? 'null' : typeof v;
}

function scalar(field: DescField, type: ScalarType | undefined, v: unknown, path: string): unknown {
  if (type !== undefined && SIGNED_64.has(type)) return toInt64(v, path);
  if (type !== undefined && UNSIGNED_64.has(type)) return toInt64(v, path, true);
  return v;
}

/** Message init for `schema` from a plain object; keys that are not fields (e.g. `$typeName`) are ignored. */
export function toInit<D extends DescMessage>(schema: D, input: object, path: string = schema.name): MessageInitShape<D> {
  const src = input as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const field of schema.fields) {
    const v = src[field.localName];
    if (v === undefined || v === null) continue;
    const at = `${path}.${field.localName}`;
    switch (field.fieldKind) {
      case 'scalar':
        out[field.localName] = scalar(field, field.scalar, v, at);
        break;
      case 'message':
        out[field.localName] = toInit(field.message, v as object, at);
        break;
      case 'list': {
        if (!Array.isArray(v)) throw new TypeError(`${at}: expected an array, got ${describe(v)}`);
        if (field.listKind === 'message') out[field.localName] = v.map((e, i) => toInit(field.message, e as object, `${at}[${i}]`));
        else if (field.listKind === 'scalar') out[field.localName] = v.map((e, i) => scalar(field, field.scalar, e, `${at}[${i}]`));
        else out[field.localName] = v;
        break;
      }
      default:
        out[field.localName] = v;
    }
  }
  return out as MessageInitShape<D>;
}
