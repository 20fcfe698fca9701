// `lab link down|up LAB POD:IFACE`: a cable pull. It is declared, not done behind meshnet's back:
// both halves of the link in the Topologies get `state: down` (or lose it), and each node's
// meshnetd makes its ends follow (src/daemon/reconciler.ts), so a pulled cable stays pulled
// through daemon restarts and reconciles, and works the same against a cluster's API server.
// This waits until the pods' interfaces show it.
import { setTimeout as sleep } from 'node:timers/promises';
import { NetNs, Rtnl, netnsPathExists } from '../kernel';
import { LOCALHOST_PEER, type Link } from '../topology';
import { netnsPath } from './names';
import { linkAt, type Endpoint } from './endpoint';
import type { LabState } from './state';

export interface CableResult {
  uid: number;
  /** The ends as POD:IFACE (`node:IFACE` for a macvlan's host side). */
  a: string;
  b: string;
  down: boolean;
  /** Whether the pods' interfaces showed the new state within the wait (false: a pod is not running, or a daemon is slow). */
  seen: boolean;
}

const WAIT_MS = 10_000;

function carrierOf(netns: string, intf: string): boolean | undefined {
  if (!netnsPathExists(netnsPath(netns))) return undefined;
  const ns = NetNs.open(netns);
  const rt = Rtnl.open(ns);
  try {
    return rt.link(intf)?.carrier;
  } finally {
    rt.close();
    ns.close();
  }
}

export async function setCable(state: LabState, ep: Endpoint, down: boolean): Promise<CableResult> {
  const { namespace, name } = ep.pod;
  const { client, link } = await linkAt(state, ep);
  const set = (l: Link): Link => {
    if (l.uid !== link.uid) return l;
    const { state: _old, ...rest } = l;
    return down ? { ...rest, state: 'down' } : rest;
  };
  await client.updateLinks(namespace, name, (links) => links.map(set));
  const far = link.peer_pod !== LOCALHOST_PEER && link.peer_pod !== name ? link.peer_pod : undefined;
  if (far) await client.updateLinks(namespace, far, (links) => links.map(set));

  // What the pods see: every end of the link that is in a running pod, carrier off (or on).
  const farPod = state.pods.find((p) => p.name === far && p.namespace === namespace);
  const ends: [string, string][] = [[ep.pod.netns, link.local_intf]];
  if (link.peer_pod === name) ends.push([ep.pod.netns, link.peer_intf]);
  else if (farPod) ends.push([farPod.netns, link.peer_intf]);
  const shows = () => ends.every(([ns, intf]) => carrierOf(ns, intf) === !down);
  const deadline = Date.now() + WAIT_MS;
  while (!shows() && Date.now() < deadline) await sleep(50);
  return {
    uid: link.uid, a: `${name}:${link.local_intf}`,
    b: link.peer_pod === LOCALHOST_PEER ? `node:${link.peer_intf}` : `${link.peer_pod}:${link.peer_intf}`,
    down, seen: shows() && (!far || !!farPod),
  };
}
