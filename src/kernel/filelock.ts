/** Advisory whole-file locks (flock) to serialise read-modify-write across processes. */
import * as libc from './libc';
import { KernelError } from './errors';

/** Blocking LOCK_EX on path (created 0644 if missing). release() is idempotent and closes the fd. */
export function lockFile(path: string): { release(): void } {
  if (typeof path !== 'string' || path.length === 0) throw new Error('path: lock file path must be a non-empty string');
  const fd = libc.open(path, libc.O_RDWR | libc.O_CREAT | libc.O_CLOEXEC, 'uint32_t', 0o644);
  if (fd < 0) throw new KernelError(`opening lock file ${path}`, libc.errno());
  try {
    for (;;) {
      if (libc.flock(fd, libc.LOCK_EX) === 0) break;
      const e = libc.errno();
      if (e !== libc.EINTR) throw new KernelError(`locking ${path}`, e);
    }
  } catch (err) {
    libc.close(fd);
    throw err;
  }
  let held = true;
  return {
    release(): void {
      if (!held) return;
      held = false;
      libc.flock(fd, libc.LOCK_UN);
      libc.close(fd);
    },
  };
}
