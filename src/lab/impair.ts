// `lab impair LAB POD:IFACE [--delay 20ms] [--loss 1%] ... | --show | --reset`: link impairments,
// declared like cable pulls (cable.ts): the half of the link on POD:IFACE gets an `impairment`
// in its Topology (what frames leaving that interface suffer, as netem on it would do), and the
// node's meshnetd applies it in the grpc-wire dataplane (src/wire/impair.ts). A link that is not
// a wire yet becomes one (`link_type: grpc` on both halves, so that a reset does not turn it back):
// this kernel has no netem, and the wire is where frames can be held, dropped or damaged.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  IMPAIRMENT_KEYS, LOCALHOST_PEER, TopologyError, parseImpairment, setKey, wantsWire,
  type Impairment, type ImpairmentKey, type Link,
} from '../topology';
import type { WireTelemetry } from '../wire/dataplane';
import { nodeWires } from './daemons';
import { LabError } from './errors';
import { linkAt, type Endpoint } from './endpoint';
import type { LabState, PodState } from './state';

export interface ImpairChange {
  /** Keys to set, as written (`20ms`, `1%`, `100mbit`). */
  set?: Partial<Record<ImpairmentKey, string>>;
  /** Remove this half's impairment. */
  reset?: boolean;
}

export interface ImpairSide {
  /** `POD:IFACE -> POD:IFACE`: the direction this half impairs. */
  direction: string;
  settings?: Partial<Record<ImpairmentKey, string>>;
  /** The wire end's telemetry, when meshnetd has it. */
  applied?: WireTelemetry['impairment'];
}

export interface ImpairResult {
  uid: number;
  a: string;
  b: string;
  /** True when this change made the link a grpc-wire (it was a veth or VXLAN). */
  becameWire: boolean;
  sides: ImpairSide[];
  /** Whether the node's meshnetd applied it within the wait. */
  seen: boolean;
}

const WAIT_MS = 15_000;

/** Checks command-line values, naming the flag (`--delay`), before anything is written. */
export function checkFlags(set: Partial<Record<ImpairmentKey, string>>): void {
  const scratch: Impairment = {};
  for (const [k, v] of Object.entries(set) as [ImpairmentKey, string][]) setKey(scratch, k, v, `--${k}`);
}

function sideOf(pod: PodState, intf: string, link: Link, wires: WireTelemetry[]): ImpairSide {
  const wire = wires.find((w) => w.podIntf === intf && w.podNetns.endsWith(`/${pod.netns}`));
  return {
    direction: `${pod.name}:${intf} -> ${link.peer_pod}:${link.peer_intf}`,
    ...(link.impairment ? { settings: link.impairment } : {}),
    ...(wire?.impairment ? { applied: wire.impairment } : {}),
  };
}

async function wiresOf(state: LabState, pod: PodState | undefined): Promise<WireTelemetry[]> {
  const node = pod && state.nodes.find((n) => n.name === pod.node);
  if (!node?.daemonPid) return [];
  return nodeWires(node).catch(() => []);
}

/** Applies `change` (or, with neither set nor reset, only reads) and reports both directions. */
export async function impairLink(state: LabState, ep: Endpoint, change: ImpairChange): Promise<ImpairResult> {
  const { namespace, name } = ep.pod;
  const { client, link } = await linkAt(state, ep);
  if (link.peer_pod === LOCALHOST_PEER) throw new LabError(`${name}:${ep.intf} is a macvlan to the node's ${link.peer_intf}: only links between pods can be impaired`);
  if (link.peer_pod === name) throw new LabError(`${name}:${ep.intf} is a self link (both ends in one pod): only links between two pods can be impaired`);
  const peerTopo = await client.get(namespace, link.peer_pod);
  const farPod = state.pods.find((p) => p.name === link.peer_pod && p.namespace === namespace);

  let becameWire = false;
  let want: Partial<Record<ImpairmentKey, string>> | undefined = link.impairment;
  if (change.set || change.reset) {
    if (change.set) checkFlags(change.set);
    want = change.reset ? undefined : { ...link.impairment, ...change.set };
    try {
      parseImpairment(want, 'impairment');
    } catch (e) {
      // A combination the flags allow one by one (--jitter without a delay): named as the flag.
      if (e instanceof TopologyError) throw new LabError(`--${e.field.split('.').pop()}: ${e.message.slice(e.field.length + 2)}`);
      throw e;
    }
    const crossNode = farPod && farPod.node !== ep.pod.node;
    const isWire = wantsWire(link, peerTopo) || (crossNode && state.interNodeLinkType === 'grpc');
    becameWire = !isWire && !!want;
    const update = (mine: boolean) => (l: Link): Link => {
      if (l.uid !== link.uid) return l;
      const { impairment: _old, ...rest } = l;
      const typed: Link = becameWire ? { ...rest, link_type: 'grpc' } : rest;
      if (!mine) return becameWire ? { ...typed, ...(l.impairment ? { impairment: l.impairment } : {}) } : l;
      return want ? { ...typed, impairment: want } : typed;
    };
    await client.updateLinks(namespace, name, (links) => links.map(update(true)));
    if (becameWire && peerTopo) await client.updateLinks(namespace, link.peer_pod, (links) => links.map(update(false)));
  }

  // Wait until this end's meshnetd shows what the Topology now says.
  const expected = JSON.stringify(want ? parseImpairment(want, 'impairment') : undefined);
  const applied = async () => {
    const w = (await wiresOf(state, ep.pod)).find((x) => x.podIntf === link.local_intf && x.podNetns.endsWith(`/${ep.pod.netns}`));
    const got = w?.impairment ? parseImpairment(w.impairment.settings, 'impairment') : undefined;
    return !!w && JSON.stringify(got) === expected;
  };
  let seen = await applied();
  if (change.set || change.reset) {
    for (const end = Date.now() + WAIT_MS; !seen && Date.now() < end;) {
      await sleep(100);
      seen = await applied();
    }
  }

  const mine = (await client.get(namespace, name))!.spec.links.find((l) => l.uid === link.uid)!;
  const theirs = (await client.get(namespace, link.peer_pod))?.spec.links.find((l) => l.uid === link.uid);
  const sides = [sideOf(ep.pod, link.local_intf, mine, await wiresOf(state, ep.pod))];
  if (farPod && theirs) sides.push(sideOf(farPod, theirs.local_intf, theirs, await wiresOf(state, farPod)));
  return { uid: link.uid, a: `${name}:${link.local_intf}`, b: `${link.peer_pod}:${link.peer_intf}`, becameWire, sides, seen };
}

/** `delay 20ms, loss 1%` (or `none`). */
export function describeImpairment(settings: Partial<Record<ImpairmentKey, string>> | undefined): string {
  if (!settings) return 'none';
  return IMPAIRMENT_KEYS.filter((k) => settings[k] !== undefined).map((k) => `${k} ${settings[k]}`).join(', ') || 'none';
}
