// A link endpoint on the command line: POD:IFACE, or NAMESPACE/POD:IFACE (namespace default).
// Resolved against a running lab: the pod must be one of its pods and the interface must exist
// in the pod's network namespace, else a LabError naming what is missing.
import { NetNs, Rtnl } from '../kernel';
import { openStore } from '../store';
import { TopologyClient, type Link } from '../topology';
import { LabError } from './errors';
import type { LabState, PodState } from './state';

export interface Endpoint {
  pod: PodState;
  intf: string;
}

export function parseEndpoint(state: LabState, arg: string): Endpoint {
  const m = /^(?:([^/:]+)\/)?([^/:]+):([^/:]+)$/.exec(arg);
  if (!m) throw new LabError(`${JSON.stringify(arg)} is not an endpoint: expected POD:IFACE or NAMESPACE/POD:IFACE`);
  const [, namespace = 'default', name, intf] = m as unknown as [string, string | undefined, string, string];
  const pod = state.pods.find((p) => p.name === name && p.namespace === namespace);
  if (!pod) throw new LabError(`lab "${state.name}" has no pod ${namespace}/${name} (pods: ${state.pods.map((p) => p.name).join(', ')})`);
  const ns = NetNs.open(pod.netns);
  const rt = Rtnl.open(ns);
  try {
    if (!rt.link(intf)) {
      const have = rt.links().map((l) => l.name).filter((n) => n !== 'lo');
      throw new LabError(`pod ${namespace}/${name} has no interface ${intf} (it has ${have.join(', ') || 'none'})`);
    }
  } finally {
    rt.close();
    ns.close();
  }
  return { pod, intf };
}

/**
 * The link on an endpoint's interface, as its pod's Topology lists it (a self link by either of
 * its interfaces), with the Topology client it was read through; a LabError when there is none.
 */
export async function linkAt(state: LabState, ep: Endpoint): Promise<{ client: TopologyClient; link: Link }> {
  const client = new TopologyClient(await openStore(state.store));
  const { namespace, name } = ep.pod;
  const me = await client.get(namespace, name);
  const link = me?.spec.links.find((l) => l.local_intf === ep.intf || (l.peer_pod === name && l.peer_intf === ep.intf));
  if (!link) throw new LabError(`pod ${namespace}/${name} has no link on interface ${ep.intf} in its Topology`);
  return { client, link };
}
