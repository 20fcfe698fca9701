// PeerAuthorizer's judgement on a cache that lags the store. The daemon's informer polls (the file
// store every 100 ms), so a peer's AddGRPCWireRemote can arrive before the cache has this node's
// own pod's ADD: a request the store allows must not be refused on that stale view (issue 21:
// `lab up` returned with a half-made wire, and a ping right after it failed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerAuthorizer, type TopologySource } from '../../src/daemon/peer-auth';
import { silentLogger } from '../../src/log';
import type { CallContext, WireDef } from '../../src/grpc';
import type { Topology } from '../../src/topology';

const N1 = '192.0.2.11';
const N2 = '192.0.2.12';

function topo(name: string, peer: string, status?: { node: string; netns: string }): Topology {
  return {
    apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology',
    metadata: { name, namespace: 'default' },
    spec: { links: [{ uid: 1, peer_pod: peer, local_intf: 'eth1', peer_intf: 'eth1' }] },
    ...(status ? { status: { src_ip: status.node, net_ns: status.netns } } : {}),
  };
}

const call = (peerAddress: string): CallContext => ({ method: 'meshnet.v1beta1.Remote/AddGRPCWireRemote', signal: new AbortController().signal, timeoutMs: () => undefined, peerAddress });

const wireFor = (pod: string, netns: string): WireDef => ({
  wireIfIdOnPeerNode: 7n, peerNodeIp: N2, intfNameInPod: 'eth1', localPodNetNs: netns, linkUid: 1n,
  localPodName: pod, wireIfNameOnLocalNode: '', topoNs: 'default', localPodIp: '',
} as WireDef);

/** A source whose cache and store disagree: `cached` is what the informer has, `stored` the truth. */
function source(cached: Topology[], stored: Topology[]): TopologySource {
  return {
    cached: () => cached,
    fresh: async () => stored,
    freshOne: async (_ns, name) => stored.find((t) => t.metadata.name === name),
  };
}

test('AddGRPCWireRemote from the peer node is served when only the store, not yet the cache, has this node\'s own pod alive', async () => {
  const r1 = '/var/run/netns/r1';
  const r2 = '/var/run/netns/r2';
  const auth = new PeerAuthorizer({
    nodeIp: N1, vniScheme: 'kne', log: silentLogger,
    topologies: source(
      [topo('r1', 'r2'), topo('r2', 'r1', { node: N2, netns: r2 })], // r1's ADD not seen yet
      [topo('r1', 'r2', { node: N1, netns: r1 }), topo('r2', 'r1', { node: N2, netns: r2 })],
    ),
  });
  const link = await auth.wireAdd(wireFor('r1', r1), call(N2));
  assert.equal(link?.uid, 1);
});

test('AddGRPCWireRemote is still refused when the store, read afresh, does not have the pod on this node', async () => {
  const r2 = '/var/run/netns/r2';
  const auth = new PeerAuthorizer({
    nodeIp: N1, vniScheme: 'kne', log: silentLogger,
    topologies: source(
      [topo('r1', 'r2'), topo('r2', 'r1', { node: N2, netns: r2 })],
      [topo('r1', 'r2'), topo('r2', 'r1', { node: N2, netns: r2 })],
    ),
  });
  await assert.rejects(auth.wireAdd(wireFor('r1', '/var/run/netns/r1'), call(N2)), /PERMISSION_DENIED|does not run on this node/);
});
