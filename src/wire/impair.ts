// Impairments in the grpc-wire dataplane (issue 10): this kernel has no netem, so frames leaving a
// wire end pass through an Impairer before they go on the peer's stream. netem's model and order:
// loss, then duplication, then corruption, then delay (with jitter, and reorder: a share of frames
// skips the delay), then rate (frames leave one after another at the rate, from a queue of at
// most QUEUE_LIMIT frames; beyond it they are dropped, as netem's limit does).
// Frames start with the 10-byte virtio_net_hdr (PACKET_VNET_HDR): sizes and corruption skip it.
import type { Impairment } from '../topology/impairment';

export interface ImpairCounters {
  lost: number;
  duplicated: number;
  corrupted: number;
  reordered: number;
  /** Frames that waited (delay or rate) before leaving. */
  delayed: number;
  /** Frames dropped because the rate queue was full. */
  queueDropped: number;
}

/** Frames that may wait in one end's delay line and rate queue together (netem's default limit). */
export const QUEUE_LIMIT = 1000;
const VNET_HDR = 10;
const ETH_HLEN = 14;

interface Timed { at: number; seq: number; frame: Buffer }

export class Impairer {
  readonly counters: ImpairCounters = { lost: 0, duplicated: 0, corrupted: 0, reordered: 0, delayed: 0, queueDropped: 0 };
  /** Frames waiting, a min-heap by release time (then arrival). */
  private readonly heap: Timed[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** When the rate-limited "line" is free for the next frame (ms, `now` clock). */
  private lineFreeAt = 0;

  constructor(
    private spec: Impairment,
    private readonly out: (frame: Buffer) => void,
    private readonly rand: () => number = Math.random,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get impairment(): Impairment {
    return this.spec;
  }

  /** New settings apply to frames from now on; frames already waiting keep their times. */
  set(spec: Impairment): void {
    this.spec = spec;
  }

  push(frame: Buffer): void {
    const s = this.spec;
    if (s.lossPct && this.rand() * 100 < s.lossPct) {
      this.counters.lost++;
      return;
    }
    const copies = s.duplicatePct && this.rand() * 100 < s.duplicatePct ? 2 : 1;
    if (copies === 2) this.counters.duplicated++;
    for (let c = 0; c < copies; c++) {
      let f = frame;
      if (s.corruptPct && this.rand() * 100 < s.corruptPct && f.length > VNET_HDR + ETH_HLEN) {
        // One bit flipped past the Ethernet header, as netem does: the frame still reaches the
        // pod, whose IP or transport checksum then finds the damage.
        f = Buffer.from(f);
        const at = VNET_HDR + ETH_HLEN + Math.floor(this.rand() * (f.length - VNET_HDR - ETH_HLEN));
        f[at] = f[at]! ^ (1 << Math.floor(this.rand() * 8));
        this.counters.corrupted++;
      }
      this.schedule(f);
    }
  }

  private schedule(f: Buffer): void {
    const s = this.spec;
    const now = this.now();
    let at = now;
    if (s.delayMs) {
      if (s.reorderPct && this.rand() * 100 < s.reorderPct) this.counters.reordered++;
      else at += Math.max(0, s.delayMs + (s.jitterMs ? (this.rand() * 2 - 1) * s.jitterMs : 0));
    }
    if (s.rateBps) {
      if (this.heap.length >= QUEUE_LIMIT) {
        this.counters.queueDropped++;
        return;
      }
      // Serialisation at the rate: this frame leaves once the one before it has.
      const start = Math.max(at, this.lineFreeAt);
      this.lineFreeAt = start + ((f.length - VNET_HDR) * 8 * 1000) / s.rateBps;
      at = this.lineFreeAt;
    } else if (this.heap.length >= QUEUE_LIMIT) {
      this.counters.queueDropped++;
      return;
    }
    if (at <= now && this.heap.length === 0) {
      this.out(f);
      return;
    }
    this.counters.delayed++;
    this.pushHeap({ at, seq: this.seq++, frame: f });
    this.arm();
  }

  /** Sends what is due; re-arms for the next. */
  private flush(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    // Never early: a frame leaves at or after its time (a delay is a floor, as netem's). A timer
    // that fired a fraction too soon (libuv rounds to whole milliseconds) just re-arms.
    const due = this.now();
    while (this.heap.length && this.heap[0]!.at <= due) this.out(this.popHeap().frame);
    if (this.heap.length) this.arm();
  }

  private arm(): void {
    const next = this.heap[0]!.at;
    if (this.timer && this.timerAt <= next) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => this.flush(), Math.max(0, Math.ceil(next - this.now())));
  }

  /** Frames waiting now. */
  get waiting(): number {
    return this.heap.length;
  }

  /** Drops what waits and stops the timer. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.heap.length = 0;
  }

  private pushHeap(t: Timed): void {
    const h = this.heap;
    h.push(t);
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private popHeap(): Timed {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

const before = (a: Timed, b: Timed) => a.at < b.at || (a.at === b.at && a.seq < b.seq);
