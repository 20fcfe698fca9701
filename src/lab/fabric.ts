// The emulated underlay: a fabric netns holding one bridge, and per node a netns whose eth0 is
// a veth into that bridge with the node's underlay address. Nothing is created in the root netns.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetNs, Rtnl, createNamedNetns, withNetns, writeSysctl } from '../kernel';
import { UNDERLAY_PREFIX, fabricNetns, netnsPath, nodeNetns, podSubnet, underlayIp } from './names';
import type { LabState, NodeState } from './state';

export const FABRIC_BRIDGE = 'fabric0';
export const NODE_UPLINK = 'eth0';
/** The bridge the main plugin creates on each node for pods' eth0. */
export const POD_BRIDGE = 'cni0';

export function createFabric(lab: string): void {
  createNamedNetns(fabricNetns(lab));
  const ns = NetNs.open(fabricNetns(lab));
  const rtnl = Rtnl.open(ns);
  try {
    rtnl.createBridge(FABRIC_BRIDGE);
    rtnl.setUp(FABRIC_BRIDGE);
  } finally {
    rtnl.close();
    ns.close();
  }
}

/** The node's conflist: Debian's bridge + host-local for eth0, then meshnet chained. */
export function nodeConfList(state: LabState, node: NodeState): Record<string, unknown> {
  if (state.originalMeshnet && state.etcd) {
    // The original meshnet's config as its author wrote it, as the node's only plugin; its etcd
    // is the lab's, and its delegate's leases are kept in the lab's directory.
    const c = state.originalMeshnet;
    const delegate = c.delegate as Record<string, unknown>;
    const ipam = delegate.ipam as Record<string, unknown> | undefined;
    return {
      cniVersion: c.cniVersion, name: c.name,
      plugins: [{
        ...c, etcd_host: '127.0.0.1', etcd_port: String(state.etcd.port),
        delegate: { ...delegate, ...(ipam ? { ipam: { ...ipam, dataDir: join(state.dir, 'nodes', node.name, 'ipam') } } : {}) },
      }],
    };
  }
  const primary = primaryConfList(state, node);
  return {
    ...primary,
    plugins: [
      ...(primary.plugins as unknown[]),
      // With a Kubernetes store the entry is upstream's own: the node's meshnetd supplies the
      // store and node IP, as on a cluster. The embedded store keeps them in the config, so the
      // plugin also works without a daemon.
      state.kube ? { ...state.meshnet, type: 'meshnet', name: 'meshnet' }
        : { ...state.meshnet, type: 'meshnet', store: state.store, node_ip: node.underlayIp, ...(state.vniScheme ? { vni_scheme: state.vniScheme } : {}) },
    ],
  };
}

/** The node's primary CNI config, as a cluster's CNI writes it: Debian's bridge + host-local for eth0. */
export function primaryConfList(state: LabState, node: NodeState): Record<string, unknown> {
  return {
    cniVersion: state.cniVersion ?? '1.0.0',
    name: 'meshnet-lab',
    plugins: [
      {
        type: 'bridge',
        bridge: POD_BRIDGE,
        isGateway: true,
        ipMasq: false,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: node.podSubnet }]],
          dataDir: join(state.dir, 'nodes', node.name, 'ipam'),
        },
      },
    ],
  };
}

export function createNode(state: LabState, name: string, index: number): NodeState {
  const node: NodeState = {
    name,
    netns: nodeNetns(state.name, name),
    underlayIp: underlayIp(index),
    podSubnet: podSubnet(index),
    conflist: join(state.dir, 'nodes', name, 'net.d', '10-meshnet-lab.conflist'),
  };
  createNamedNetns(node.netns);
  const fabric = NetNs.open(netnsPath(fabricNetns(state.name)));
  const nodeNs = NetNs.open(netnsPath(node.netns));
  const f = Rtnl.open(fabric);
  const n = Rtnl.open(nodeNs);
  try {
    const port = `n${index}`;
    f.createVeth({ name: port, peerName: NODE_UPLINK, peerNs: nodeNs });
    f.setMaster(port, FABRIC_BRIDGE);
    f.setUp(port);
    n.addAddr(NODE_UPLINK, `${node.underlayIp}/${UNDERLAY_PREFIX}`);
    n.setUp(NODE_UPLINK);
    // A node routes for its pods, as a Kubernetes node does.
    withNetns(nodeNs, () => writeSysctl('net.ipv4.ip_forward', 1));
  } finally {
    f.close();
    n.close();
    fabric.close();
    nodeNs.close();
  }
  mkdirSync(join(node.conflist, '..'), { recursive: true });
  writeFileSync(node.conflist, JSON.stringify(nodeConfList(state, node), null, 2));
  return node;
}
