/**
 * Readiness on raw fds through libuv (koffi.node.poll → uv_poll_t on Node's own event loop).
 *
 * Three things koffi does not do for us (checked against koffi 2.16's src/uv.cc):
 * - A PollHandle whose JS object is garbage-collected closes its uv handle in the destructor:
 *   polling stops silently. Every active watch is kept in `active` until stopped.
 * - An exception thrown by the callback is swallowed (it runs outside any N-API callback scope).
 *   We catch it and rethrow from a microtask, so it reaches 'uncaughtException' like any other
 *   callback's error.
 * - The callback gets (status, events), not the typed (events). status < 0 is a libuv error
 *   (e.g. EBADF); we still call the listener, whose next read reports the socket's error.
 *
 * uv_poll is level-triggered: the listener is called once per loop iteration while the fd stays
 * readable, so it should drain (or deliberately leave work for the next iteration).
 * libuv allows one poll handle per fd, and the fd must not be closed while it is watched: stop first.
 */
import koffi from 'koffi';

interface Watch {
  handle: ReturnType<typeof koffi.node.poll>;
}

/** Active watches, referenced here so their handles are never collected while running. */
const active = new Set<Watch>();

/**
 * Call `onReadable` whenever `fd` is readable (or has an error pending). Returns an idempotent stop
 * function; stop before closing the fd.
 */
export function watchReadable(fd: number, onReadable: () => void): () => void {
  const w: Watch = {
    handle: koffi.node.poll(fd, { readable: true }, () => {
      if (!active.has(w)) return;
      try {
        onReadable();
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }),
  };
  active.add(w);
  return () => {
    if (!active.delete(w)) return;
    w.handle.close(); // uv_poll_stop now (epoll_ctl DEL), handle memory released by uv_close later
  };
}

/** Number of active watches (for tests and leak checks). */
export function activeWatches(): number {
  return active.size;
}
