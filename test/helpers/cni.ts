import assert from 'node:assert/strict';
import { CniError } from '../../src/cni';

/** Asserts `p` fails with a CNI error of `code` whose msg or details match `re`. */
export async function rejectsWith(p: Promise<unknown>, code: number, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CniError, String(e));
    assert.equal(e.code, code, `code ${e.code}: ${e.message} ${e.details}`);
    assert.match(`${e.msg} ${e.details}`, re);
    return true;
  });
}
