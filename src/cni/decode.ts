// Internal helpers for turning `unknown` JSON into typed values. Every failure is a CniError whose
// details start with the full field path (e.g. "prevResult.ips[1].address"), so callers only have
// to choose the error code and the short message.
import { CniError, describeValue } from './errors';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class Decoder {
  constructor(
    readonly code: number,
    readonly msg: string,
  ) {}

  fail(path: string, problem: string): never {
    throw new CniError(this.code, this.msg, `${path}: ${problem}`);
  }

  object(v: unknown, path: string): Record<string, unknown> {
    if (!isRecord(v)) this.fail(path, `must be an object, got ${describeValue(v)}`);
    return v;
  }

  /** Absent and null both mean "not set": Go encoders emit null for nil slices and pointers. */
  optArray(obj: Record<string, unknown>, key: string, path: string): unknown[] | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) this.fail(`${path}.${key}`, `must be an array, got ${describeValue(v)}`);
    return v;
  }

  optString(obj: Record<string, unknown>, key: string, path: string): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(`${path}.${key}`, `must be a string, got ${describeValue(v)}`);
    return v;
  }

  string(obj: Record<string, unknown>, key: string, path: string): string {
    const v = this.optString(obj, key, path);
    if (v === undefined) this.fail(`${path}.${key}`, 'is required');
    return v;
  }

  optUint(obj: Record<string, unknown>, key: string, path: string): number | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      this.fail(`${path}.${key}`, `must be a non-negative integer, got ${describeValue(v)}`);
    }
    return v;
  }

  optStringArray(obj: Record<string, unknown>, key: string, path: string): string[] | undefined {
    const arr = this.optArray(obj, key, path);
    if (arr === undefined) return undefined;
    return arr.map((item, i) => {
      if (typeof item !== 'string') this.fail(`${path}.${key}[${i}]`, `must be a string, got ${describeValue(item)}`);
      return item;
    });
  }

  optBool(obj: Record<string, unknown>, key: string, path: string): boolean | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    // libcni accepts the strings too, because hand-written configs often quote booleans.
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    this.fail(`${path}.${key}`, `must be a boolean, got ${describeValue(v)}`);
  }
}
