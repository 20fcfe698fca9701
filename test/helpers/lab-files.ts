/**
 * Lab files several tests share. twoPods: r1 on n1 and r2 on n2 (or n1 too with `nodes: 1`), one
 * link, uid 1, eth1 to eth1, addressed 10.1.1.1/24 and .2; `extra` adds top-level lab-file lines.
 * threePods: r1 and r2 on node n1, r3 on n2; r1-r2 (uid 1, a veth)
 * on `net1`, r1-r3 (uid 2, across nodes: VXLAN, or a grpc-wire with linkType grpc) on `net2`,
 * each /24 addressed .1, .2 and .3 by pod; optionally a self link in r2 (uid 3, eth2-eth3).
 */
import { parseLabFile, type LabSpec } from '../../src/lab';

export function threePods(name: string, o: { linkType?: 'grpc'; net1: string; net2: string; selfLinkInR2?: boolean }): LabSpec {
  const { net1, net2 } = o;
  return parseLabFile(`
name: ${name}
${o.linkType ? `inter_node_link_type: ${o.linkType}` : ''}
nodes: [n1, n2]
pods: [{name: r1, node: n1}, {name: r2, node: n1}, {name: r3, node: n2}]
topologies:
  - metadata: {name: r1}
    spec: {links: [{uid: 1, peer_pod: r2, local_intf: eth1, peer_intf: eth1, local_ip: ${net1}.1/24, peer_ip: ${net1}.2/24},
                   {uid: 2, peer_pod: r3, local_intf: eth2, peer_intf: eth1, local_ip: ${net2}.1/24, peer_ip: ${net2}.3/24}]}
  - metadata: {name: r2}
    spec: {links: [{uid: 1, peer_pod: r1, local_intf: eth1, peer_intf: eth1, local_ip: ${net1}.2/24, peer_ip: ${net1}.1/24}${o.selfLinkInR2 ? `,
                   {uid: 3, peer_pod: r2, local_intf: eth2, peer_intf: eth3}` : ''}]}
  - metadata: {name: r3}
    spec: {links: [{uid: 2, peer_pod: r1, local_intf: eth1, peer_intf: eth2, local_ip: ${net2}.3/24, peer_ip: ${net2}.1/24}]}
`);
}

export function twoPods(name: string, o: { nodes?: 1 | 2; linkType?: 'grpc'; extra?: string } = {}): LabSpec {
  const two = (o.nodes ?? 2) === 2;
  return parseLabFile(`
name: ${name}
${o.linkType ? `inter_node_link_type: ${o.linkType}` : ''}
${o.extra ?? ''}
nodes: [n1${two ? ', n2' : ''}]
pods: [{name: r1, node: n1}, {name: r2, node: ${two ? 'n2' : 'n1'}}]
topologies:
  - metadata: {name: r1}
    spec: {links: [{uid: 1, peer_pod: r2, local_intf: eth1, peer_intf: eth1, local_ip: 10.1.1.1/24, peer_ip: 10.1.1.2/24}]}
  - metadata: {name: r2}
    spec: {links: [{uid: 1, peer_pod: r1, local_intf: eth1, peer_intf: eth1, local_ip: 10.1.1.2/24, peer_ip: 10.1.1.1/24}]}
`);
}
