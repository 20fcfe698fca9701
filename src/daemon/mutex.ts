// One lock for the work that touches pods' links: CNI calls and reconciler syncs take turns, so a
// sync never acts halfway through an ADD or DEL (both read the store, then plumb).
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(() => undefined, () => undefined);
    return result;
  }
}
