// Wire ids derived from names, so the same wire has the same id after a daemon restart (the KNE
// fork renumbered restored wires and peers delivered frames to the wrong wire).
import { createHash } from 'node:crypto';

/** Ids are at most 2^53 - 1: GWireKObj stores them as JSON integers, exact only up to there. */
const ID_BITS = 53n;

/** A 53-bit id (fits a proto int64 and a JSON number exactly, never 0) for the wire end of `intf` in pod `namespace/pod`. */
export function wireId(namespace: string, pod: string, intf: string): bigint {
  const v = createHash('sha256').update(`${namespace}/${pod}/${intf}`).digest().readBigUInt64BE(0) & ((1n << ID_BITS) - 1n);
  return v === 0n ? 1n : v;
}

/** The host-side interface of a wire end in the node's netns: "gw" + base-36 id, at most 15 bytes. */
export function wireHostIntf(id: bigint): string {
  return `gw${id.toString(36)}`.slice(0, 15);
}

/**
 * The MAC of a wire end's pod interface, from its id: locally administered unicast, the same
 * every time the end is made. A wire made again (its veth was cut, its pod re-created) keeps
 * its MAC, so the far pod's ARP/ND entry stays right; with a new random MAC the far pod kept
 * sending to the old one until its neighbour entry went stale, about 30 s (issue 21).
 */
export function wirePodMac(id: bigint): string {
  const bytes = [Number(((id >> 40n) & 0xfcn) | 0x02n), ...[32n, 24n, 16n, 8n, 0n].map((s) => Number((id >> s) & 0xffn))];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
