// How a lab is shown: its nodes and pods (`lab status`, `lab up`), as text or data, and the table
// of its links with a one-line verdict.
import { existsSync } from 'node:fs';
import { checkLinks, formatLinkTable, type LabState } from '../lab';
import { openStore } from '../store';
import { TopologyClient, type Topology } from '../topology';
import { out } from './output';

export async function topologiesOf(state: LabState): Promise<Topology[]> {
  return new TopologyClient(await openStore(state.store)).list();
}

/** What `lab status` shows, as data (`--output json`). */
/** `containers`: each container pod's state (containerStates), by namespace/name. */
export function statusOf(state: LabState, containers = new Map<string, string>()) {
  return {
    name: state.name, file: state.file, createdAt: state.createdAt,
    store: state.kube ? { kubernetes: state.kube.server, kubeconfig: state.kube.kubeconfig } : state.store,
    nodes: state.nodes.map((n) => ({
      name: n.name, netns: n.netns, underlayIp: n.underlayIp, podSubnet: n.podSubnet,
      meshnetd: n.daemonPid === undefined ? null : { pid: n.daemonPid, running: existsSync(`/proc/${n.daemonPid}`) },
    })),
    pods: state.pods.map((p) => ({
      namespace: p.namespace, name: p.name, node: p.node, netns: p.netns, eth0: p.result?.ips.map((x) => x.address) ?? (p.ip ? [p.ip] : []),
      ...(p.container ? { container: { image: p.container.image, id: p.container.id ?? null, state: containers.get(`${p.namespace}/${p.name}`) ?? null } } : {}),
    })),
  };
}

export function describe(state: LabState, containers = new Map<string, string>()): string {
  const lines = [`lab "${state.name}" (from ${state.file}, up since ${state.createdAt})`,
    `store: ${state.kube ? `Kubernetes API ${state.kube.server} (kubeconfig ${state.kube.kubeconfig})` : state.store}`, '', 'NODES'];
  for (const n of state.nodes) {
    const daemon = n.daemonPid === undefined ? 'no meshnetd'
      : existsSync(`/proc/${n.daemonPid}`) ? `meshnetd pid ${n.daemonPid}` : `meshnetd pid ${n.daemonPid} NOT RUNNING`;
    lines.push(`  ${n.name.padEnd(12)} netns ${n.netns}  underlay ${n.underlayIp}  pods ${n.podSubnet}  ${daemon}`);
  }
  lines.push('', 'PODS');
  for (const p of state.pods) {
    const ip = p.result?.ips.map((x) => x.address).join(',') ?? p.ip ?? '(no result)';
    const image = p.container ? `  image ${p.container.image} (${containers.get(`${p.namespace}/${p.name}`) ?? 'state unknown'})` : '';
    lines.push(`  ${`${p.namespace}/${p.name}`.padEnd(20)} node ${p.node.padEnd(10)} eth0 ${ip.padEnd(16)} netns ${p.netns}${image}`);
  }
  return lines.join('\n');
}

/** Prints every link of the lab (proven by traffic when asked) and a verdict; true when all pass. */
export async function showLinks(state: LabState, opts: { traffic: boolean }): Promise<boolean> {
  const rows = await checkLinks(state, await topologiesOf(state), { traffic: opts.traffic });
  out('');
  out(rows.length ? formatLinkTable(rows) : '(no links)');
  const failed = rows.filter((r) => !r.pass).length;
  // A pulled cable that is down as set passes, but is neither up nor proven by traffic.
  const pulled = rows.filter((r) => r.pulled && r.pass).length;
  const pinged = rows.filter((r) => r.traffic).length;
  const ok = rows.length - failed - pulled;
  const pulledNote = pulled ? `; ${pulled} with the cable pulled (lab link up plugs it back)` : '';
  out('');
  if (!opts.traffic) out(`${ok} of ${rows.length} links up${pulledNote}`);
  else if (pinged === ok) out(`${ok} of ${rows.length} links passed traffic${pulledNote}`);
  else out(`${ok} of ${rows.length} links passed (${pinged} with traffic; ${ok - pinged} to host interfaces checked for state only)${pulledNote}`);
  return failed === 0;
}
