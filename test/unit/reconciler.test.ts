// The reconciler's sync, tested as kubernetes/sample-controller tests its controller: a store
// seeded with Topologies (the embedded file store, in a temporary directory), one `sync` of one
// pod with the kernel and the peer nodes' daemons replaced by recorders, and the exact plumbing
// calls, peer requests and store writes compared. No root, no kernel objects: the end-to-end
// behaviour is proven against the kernel in test/e2e (reconcile, pod-gone, wire-heal).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Reconciler, type SyncOutcome } from '../../src/daemon/reconciler';
import { Mutex } from '../../src/daemon/mutex';
import type { SyncKernel, SyncSession } from '../../src/daemon/sync-kernel';
import type { LinkInfo } from '../../src/kernel';
import type { RemoteLinker } from '../../src/plumbing/far-node';
import { MESHNET_LINK_GROUP } from '../../src/plumbing/links';
import { vniOf } from '../../src/plumbing/vxlan';
import { FileStore } from '../../src/store/file-store';
import type { Store, StoredObject } from '../../src/store';
import { TOPOLOGY_RESOURCE, type Link, type Topology } from '../../src/topology';
import { createLogger } from '../../src/log';
import { until } from '../helpers/wait';

const NODE = '192.0.2.1';
const OTHER_NODE = '192.0.2.2';
/** The synced pod's netns: only the kernel recorder knows it. */
const R1_NETNS = '/var/run/netns/unit-r1';
/** A same-node peer's netns must exist for the planner (plan.ts checks it): this process's. */
const LIVE_NETNS = '/proc/self/ns/net';

type LinkSpec = Partial<Link> & Pick<Link, 'uid' | 'peer_pod'>;
const link = (l: LinkSpec): Link => ({ local_intf: `eth${l.uid}`, peer_intf: `eth${l.uid}`, ...l });

function topology(name: string, links: LinkSpec[], status?: { node: string; netns: string; plumbing_error?: string }): StoredObject {
  return {
    apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology',
    metadata: { name, namespace: 'default' },
    spec: { links: links.map(link) },
    ...(status ? { status: { src_ip: status.node, net_ns: status.netns, ...(status.plumbing_error ? { plumbing_error: status.plumbing_error } : {}) } } : {}),
  };
}

/** The kernel as a sync sees it: a pod's links to list, every change recorded as one line. */
class KernelRecorder implements SyncKernel {
  readonly calls: string[] = [];
  readonly podLinks = new Map<string, LinkInfo[]>();
  readonly netns = new Set<string>([R1_NETNS]);
  plumbError: ((intf: string) => Error | undefined) | undefined;

  netnsExists(path: string): boolean {
    return this.netns.has(path) || path === LIVE_NETNS;
  }

  session(): SyncSession {
    const calls = this.calls;
    return {
      links: (netns) => this.podLinks.get(netns) ?? [],
      link: (netns, intf) => (this.podLinks.get(netns) ?? []).find((l) => l.name === intf),
      deleteLink: (netns, intf) => { calls.push(`delete ${intf} in ${netns}`); },
      delAddr: (netns, intf, cidr) => { calls.push(`remove address ${cidr} from ${intf} in ${netns}`); },
      finishEnd: (netns, intf) => { calls.push(`finish ${intf} in ${netns}`); },
      plumb: async (p, pod, podNetns) => {
        calls.push(`plumb ${p.action} ${pod.name}:${p.link.local_intf}${p.link.local_ip ? ` ${p.link.local_ip}` : ''} in ${podNetns} to ${p.link.peer_pod}:${p.link.peer_intf}`);
        const e = this.plumbError?.(p.link.local_intf);
        if (e) throw e;
      },
      close: () => {},
    };
  }
}

/** Peer nodes' daemons: every request recorded. */
class RemoteRecorder implements RemoteLinker {
  readonly calls: string[] = [];
  async update(nodeIp: string, end: Parameters<RemoteLinker['update']>[1]): Promise<void> {
    this.calls.push(`update ${end.intfName} on ${nodeIp}`);
  }
  async remove(nodeIp: string, ref: Parameters<RemoteLinker['remove']>[1]): Promise<boolean> {
    this.calls.push(`remove ${ref.intfName} (vni ${ref.vni}) in ${ref.netNs} on ${nodeIp}`);
    return true;
  }
}

/** The store's writes, each as the operation and what it wrote. */
function recordWrites(store: Store): { store: Store; writes: string[] } {
  const writes: string[] = [];
  const wrapped: Store = Object.create(store) as Store;
  wrapped.patchStatus = async (resource, namespace, name, patch, rv) => {
    writes.push(`patchStatus ${namespace}/${name} ${JSON.stringify(patch)}${rv ? ` if at version ${rv}` : ''}`);
    return store.patchStatus(resource, namespace, name, patch, rv);
  };
  for (const op of ['create', 'update', 'updateStatus'] as const) {
    wrapped[op] = async (resource: string, obj: StoredObject) => {
      writes.push(`${op} ${obj.metadata.namespace}/${obj.metadata.name}`);
      return store[op](resource, obj);
    };
  }
  wrapped.delete = async (resource, namespace, name) => {
    writes.push(`delete ${namespace}/${name}`);
    return store.delete(resource, namespace, name);
  };
  return { store: wrapped, writes };
}

interface Fixture {
  kernel: KernelRecorder;
  remote: RemoteRecorder;
  writes: string[];
  forgotten: string[];
  store: Store;
  sync(pod: string): Promise<SyncOutcome>;
  /** The reconciler's cached copy of a pod's Topology (its watch of the store feeds it). */
  cached(pod: string): Topology | undefined;
}

/** Seeds a file store, starts the reconciler's cache (not its queue: each test calls sync itself), runs `fn`. */
async function withReconciler(seed: StoredObject[], fn: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meshnet-reconciler-'));
  const file = new FileStore(dir);
  for (const o of seed) {
    const { status, ...rest } = o as StoredObject & { status?: Record<string, unknown> };
    await file.create(TOPOLOGY_RESOURCE, rest as StoredObject);
    if (status) await file.patchStatus(TOPOLOGY_RESOURCE, o.metadata.namespace, o.metadata.name, status);
  }
  const { store, writes } = recordWrites(file);
  const kernel = new KernelRecorder();
  const remote = new RemoteRecorder();
  const forgotten: string[] = [];
  const r = new Reconciler({
    store, nodeIp: NODE, interNodeLinkType: 'vxlan', vniScheme: 'kne', remote, kernel, lock: new Mutex(), resyncMs: 0,
    log: createLogger({ write: () => {} }),
    forgetPod: async (namespace, name) => { forgotten.push(`${namespace}/${name}`); return []; },
  });
  await r.informer.start();
  try {
    await fn({ kernel, remote, writes, forgotten, store, sync: (pod) => r.sync(`default/${pod}`), cached: (pod) => r.informer.get('default', pod) });
  } finally {
    await r.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const meshnetLink = (name: string, kind = 'veth'): LinkInfo =>
  ({ index: 10, name, kind, mtu: 1500, mac: '02:00:00:00:00:01', up: true, operState: 'up', carrier: true, group: MESHNET_LINK_GROUP });

const R1_ALIVE = { node: NODE, netns: R1_NETNS };

test('a pod with a same-node peer up: one sync plumbs the veth to it, writes nothing and is done', async () => {
  await withReconciler([
    topology('r1', [{ uid: 1, peer_pod: 'r2', local_ip: '10.0.0.1/24' }], R1_ALIVE),
    topology('r2', [{ uid: 1, peer_pod: 'r1', local_ip: '10.0.0.2/24' }], { node: NODE, netns: LIVE_NETNS }),
  ], async (f) => {
    const o = await f.sync('r1');
    assert.deepEqual(o, { failures: [], waiting: [] });
    assert.deepEqual(f.kernel.calls, [`plumb veth r1:eth1 10.0.0.1/24 in ${R1_NETNS} to r2:eth1`]);
    assert.deepEqual([f.writes, f.remote.calls], [[], []]);
  });
});

test('a link whose peer is not up is left for the peer\'s own ADD: nothing plumbed, nothing written, done', async () => {
  await withReconciler([
    topology('r1', [{ uid: 1, peer_pod: 'r2' }], R1_ALIVE),
    topology('r2', [{ uid: 1, peer_pod: 'r1' }]),
  ], async (f) => {
    assert.deepEqual(await f.sync('r1'), { failures: [], waiting: [] });
    assert.deepEqual([f.kernel.calls, f.writes], [[], []]);
  });
});

test('a meshnet interface the Topology no longer lists is deleted; other interfaces of the pod are not touched', async () => {
  await withReconciler([topology('r1', [], R1_ALIVE)], async (f) => {
    f.kernel.podLinks.set(R1_NETNS, [meshnetLink('eth7'), { ...meshnetLink('eth0'), group: 0 }]);
    assert.deepEqual(await f.sync('r1'), { failures: [], waiting: [] });
    assert.deepEqual(f.kernel.calls, [`delete eth7 in ${R1_NETNS}`]);
  });
});

test('a link that fails to plumb: sync returns the failure naming the link, and plumbing_error says the same in status', async () => {
  await withReconciler([
    topology('r1', [{ uid: 1, peer_pod: 'r2' }], R1_ALIVE),
    topology('r2', [{ uid: 1, peer_pod: 'r1' }], { node: NODE, netns: LIVE_NETNS }),
  ], async (f) => {
    f.kernel.plumbError = () => new Error('File exists');
    const failure = 'link uid 1 (r1:eth1 – r2:eth1): File exists';
    assert.deepEqual(await f.sync('r1'), { failures: [failure], waiting: [] });
    assert.deepEqual(f.writes, [`patchStatus default/r1 ${JSON.stringify({ plumbing_error: failure })}`]);
  });
});

test('a plumbing_error whose cause is gone is cleared by the next sync that plumbs the link', async () => {
  await withReconciler([
    topology('r1', [{ uid: 1, peer_pod: 'r2' }], { ...R1_ALIVE, plumbing_error: 'link uid 1 (r1:eth1 – r2:eth1): File exists' }),
    topology('r2', [{ uid: 1, peer_pod: 'r1' }], { node: NODE, netns: LIVE_NETNS }),
  ], async (f) => {
    assert.deepEqual(await f.sync('r1'), { failures: [], waiting: [] });
    assert.deepEqual(f.writes, [`patchStatus default/r1 ${JSON.stringify({ plumbing_error: null })}`]);
  });
});

test('a changed local_ip: the next sync takes the old address away before the link is plumbed with the new one', async () => {
  await withReconciler([
    topology('r1', [{ uid: 1, peer_pod: 'r2', local_ip: '10.0.0.1/24' }], R1_ALIVE),
    topology('r2', [{ uid: 1, peer_pod: 'r1' }], { node: NODE, netns: LIVE_NETNS }),
  ], async (f) => {
    await f.sync('r1');
    const cur = (await f.store.get(TOPOLOGY_RESOURCE, 'default', 'r1'))!;
    await f.store.update(TOPOLOGY_RESOURCE, { ...cur, spec: { links: [link({ uid: 1, peer_pod: 'r2', local_ip: '10.0.0.9/24' })] } });
    await until('the reconciler\'s cache to have the edit', () => f.cached('r1')?.spec.links[0]?.local_ip === '10.0.0.9/24');
    f.kernel.calls.length = 0;
    await f.sync('r1');
    assert.deepEqual(f.kernel.calls, [
      `remove address 10.0.0.1/24 from eth1 in ${R1_NETNS}`,
      `plumb veth r1:eth1 10.0.0.9/24 in ${R1_NETNS} to r2:eth1`,
    ]);
  });
});

test('a pod alive here whose netns is gone: its far ends are removed on the peer\'s node and its status cleared, conditionally', async () => {
  await withReconciler([
    topology('r1', [{ uid: 1, peer_pod: 'r2' }], R1_ALIVE),
    topology('r2', [{ uid: 1, peer_pod: 'r1' }], { node: OTHER_NODE, netns: '/var/run/netns/far-r2' }),
  ], async (f) => {
    f.kernel.netns.delete(R1_NETNS);
    const version = (await f.store.get(TOPOLOGY_RESOURCE, 'default', 'r1'))!.metadata.resourceVersion;
    assert.deepEqual(await f.sync('r1'), { failures: [], waiting: [] });
    assert.deepEqual(f.kernel.calls, []);
    assert.deepEqual(f.remote.calls, [`remove eth1 (vni ${vniOf(1, 'default', 'kne')}) in /var/run/netns/far-r2 on ${OTHER_NODE}`]);
    assert.deepEqual(f.writes, [`patchStatus default/r1 ${JSON.stringify({ src_ip: null, net_ns: null })} if at version ${version}`]);
    assert.deepEqual(f.forgotten, ['default/r1']);
  });
});

test('a pod alive on another node is not this node\'s: nothing plumbed or written, what this node held for it is forgotten', async () => {
  await withReconciler([
    topology('r1', [{ uid: 1, peer_pod: 'r2' }], { node: OTHER_NODE, netns: '/var/run/netns/elsewhere' }),
  ], async (f) => {
    assert.deepEqual(await f.sync('r1'), { failures: [], waiting: [] });
    assert.deepEqual([f.kernel.calls, f.remote.calls, f.writes, f.forgotten], [[], [], [], ['default/r1']]);
  });
});
