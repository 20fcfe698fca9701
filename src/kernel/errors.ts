import { getSystemErrorMap } from 'node:util';
import { MeshnetError } from '../errors';

/** errno → [name, text], from libuv's table (negative keys). Built lazily once. */
let errnoTable: Map<number, [string, string]> | undefined;

function describeErrno(errno: number): { code: string; text: string } {
  errnoTable ??= getSystemErrorMap();
  const entry = errnoTable.get(-Math.abs(errno));
  if (entry) return { code: entry[0], text: entry[1] };
  return { code: `E${errno}`, text: `errno ${errno}` };
}

/**
 * A failed system call or netlink request.
 *
 * - `errno`: the positive errno value (e.g. 17)
 * - `code`: its symbolic name ('EEXIST', 'ENODEV', ...): stable, match on this
 * - `op`: what was being done, naming interfaces / namespaces / CIDRs
 * - `detail`: the kernel's extended-ack message when netlink provided one
 *
 * message: `${op}: ${code} (${text})` (text includes the extack message when present)
 */
export class KernelError extends MeshnetError {
  readonly errno: number;
  readonly code: string;
  readonly op: string;
  readonly detail: string | undefined;

  constructor(op: string, errno: number, detail?: string) {
    const e = Math.abs(errno);
    const { code, text } = describeErrno(e);
    super(`${op}: ${code} (${detail ? `${text}: ${detail}` : text})`);
    this.errno = e;
    this.code = code;
    this.op = op;
    this.detail = detail;
  }
}

/** Convert a Node fs/system error (err.errno negative, err.code) into a KernelError. */
export function fromNodeError(op: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.errno === 'number') return new KernelError(op, e.errno);
  return err instanceof Error ? err : new Error(String(err));
}

export function isKernelError(err: unknown, ...codes: string[]): err is KernelError {
  return err instanceof KernelError && (codes.length === 0 || codes.includes(err.code));
}
