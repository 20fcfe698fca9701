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
 *   (e.g. EBADF on POLLERR); we still call the listener, whose next read reports the socket's
 *   error, and then re-arm: libuv has stopped the handle (see watchReadable).
 *
 * uv_poll is level-triggered: the listener is called once per loop iteration while the fd stays
 * readable, so it should drain (or deliberately leave work for the next iteration).
 * libuv allows one poll handle per fd, and the fd must not be closed while it is watched: stop first.
 */
import koffi from 'koffi';

interface Watch {
  /** undefined while a re-arm is pending (the old handle closed, the new one not yet made). */
  handle: ReturnType<typeof koffi.node.poll> | undefined;
}

/** koffi's declared callback type (its last overload's second parameter). */
type PollCallback = Parameters<typeof koffi.node.poll>[1];

/** Active watches, referenced here so their handles are never collected while running. */
const active = new Set<Watch>();

/**
 * Call `onReadable` whenever `fd` is readable (or has an error pending). Returns an idempotent stop
 * function; stop before closing the fd.
 */
export function watchReadable(fd: number, onReadable: () => void): () => void {
  const w: Watch = { handle: undefined };
  // koffi's typings say (events); at run time the first argument is libuv's status.
  const cb = ((status: number) => {
    if (!active.has(w)) return;
    try {
      onReadable();
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
    // libuv stops a poll handle for good on POLLERR (status < 0), e.g. the ENETDOWN a packet
    // socket reports when its interface goes down. The listener's read has consumed that error
    // now, so watch again: the socket works once the interface is back up.
    if (status < 0 && active.has(w) && w.handle) {
      w.handle.close();
      w.handle = undefined;
      // A new uv_poll on the same fd only once the stopped one has finished closing (its close
      // callback runs at the end of this loop iteration; a timer runs after it).
      setTimeout(() => {
        if (!active.has(w)) return;
        try {
          w.handle = koffi.node.poll(fd, { readable: true }, cb);
        } catch (err) {
          active.delete(w);
          queueMicrotask(() => {
            throw err;
          });
        }
      }, 0);
    }
  }) as unknown as PollCallback;
  w.handle = koffi.node.poll(fd, { readable: true }, cb);
  active.add(w);
  return () => {
    if (!active.delete(w)) return;
    w.handle?.close(); // uv_poll_stop now (epoll_ctl DEL), handle memory released by uv_close later
    w.handle = undefined;
  };
}

