// meshnetd's reconciler, in the shape of kubernetes/sample-controller: a watch of the Topology
// objects feeds a cache (Informer) and a queue of pod keys (WorkQueue); `sync(key)` makes the
// links of one pod on this node what its Topology says, idempotently: missing links plumbed,
// links no longer listed removed, changed addresses applied, a link whose peer moved re-made,
// failures written to status.plumbing_error and retried with backoff (peer RPCs included).
// CNI ADD still plumbs what it can at once (a pod's links are up when ADD returns, as upstream);
// the reconciler makes everything that changes afterwards: peers coming up or going, edits of a
// running topology, and what a failed call left behind. One lock serialises CNI calls and syncs.
import { MESHNET_LINK_GROUP, VETH_MTU } from '../plumbing/links';
import { linkLabel, planPod, type InterNodeLinkType, type LinkPlan } from '../plumbing/plan';
import { removeFarEnds } from '../plumbing/plumb';
import { NODE_NETNS } from '../plumbing/handles';
import type { RemoteLinker, WireLinker } from '../plumbing/far-node';
import type { VniScheme } from '../plumbing/vxlan';
import { Informer, keyOf } from '../store/informer';
import type { Store } from '../store';
import { TOPOLOGY_RESOURCE, TopologyClient, cablePulled, impairmentOf, isAlive, parseStored, withDefaultMtu, type Topology } from '../topology';
import type { WireDataplane } from '../wire/dataplane';
import { WorkQueue } from './workqueue';
import { kernelSync, type SyncKernel, type SyncSession } from './sync-kernel';
import type { Mutex } from './mutex';
import type { Logger } from '../log';

/**
 * How long the lesser-named pod of a grpc link waits for the peer's daemon to make the wire
 * before making it itself (normally the peer's ADD or sync makes it within milliseconds).
 */
const HALF_WIRE_GRACE_MS = 2000;

export interface ReconcilerOptions {
  store: Store;
  /** meshnetd's --mtu (links without their own, pods whose config set none). */
  mtu?: number;
  /** Removes what this node holds for a pod no longer here (wire-linker.ts forgetPodWires); returns what it removed. */
  forgetPod?: (namespace: string, name: string) => Promise<string[]>;
  /** Pods this node holds something for (wire ends, records): the start-up resync covers them too. */
  heldPods?: () => Promise<Array<{ namespace: string; name: string }>>;
  nodeIp: string;
  interNodeLinkType: InterNodeLinkType;
  vniScheme: VniScheme;
  hostIntf?: string;
  remote: RemoteLinker;
  wires?: WireLinker;
  dataplane?: WireDataplane;
  /** Shared with the CNI socket: a sync never runs in the middle of a CNI call. */
  lock: Mutex;
  log: Logger;
  /** Keys synced at once. */
  workers?: number;
  /**
   * Every pod of this node is synced again this often (default 30 s), as a controller's informer
   * resyncs: what no Topology change announces (a pod's netns gone while the daemon was away, a
   * wire end cut, a stale "wire down") is found there. 0: only at start-up.
   */
  resyncMs?: number;
  /** The kernel work of a sync (default: the kernel itself; a unit test passes a recorder). */
  kernel?: SyncKernel;
}

/** How long after a far end's "wire down" its pod is synced to check the far pod against the store. */
const WIRE_DOWN_RECHECK_MS = 2000;
const DEFAULT_RESYNC_MS = 30_000;

/** What a CNI ADD tells the reconciler about its pod (the plugin config's choices, its status write). */
export interface AddNote {
  disableTxOffloads: boolean;
  resourceVersion?: string;
  mtu?: number;
}

/** A peer pod of the pod being synced, read afresh from the store (once per sync). */
type FreshPeer = (name: string) => Promise<Topology | undefined>;

/** What the last sync of a pod found, for waiters and tests. */
export interface SyncResult {
  resourceVersion?: string;
  problems: string[];
}

/**
 * What one sync left undone: `failures` (errors: written to plumbing_error, retried with backoff)
 * and `waiting` (links waiting on a peer: retried, not errors). Both empty: the pod is as its
 * Topology says.
 */
export interface SyncOutcome {
  failures: string[];
  waiting: string[];
}

export class Reconciler {
  readonly informer: Informer<Topology>;
  private readonly queue: WorkQueue;
  private readonly client: TopologyClient;
  /** Per pod, the CNI config's tx offload choice from its last ADD (default as upstream: off). */
  private readonly offloads = new Map<string, boolean>();
  /** The plugin config's `mtu` of each pod's ADD, as offloads above. */
  private readonly mtus = new Map<string, number>();
  /** Addresses this daemon put on pod interfaces, to take the old one away when the Topology changes it. */
  private readonly applied = new Map<string, string | undefined>();
  readonly results = new Map<string, SyncResult>();
  /** grpc links of local pods whose end was first seen missing (the peer's side makes it), by link. */
  private readonly halfSince = new Map<string, number>();
  /** The newest status version this daemon wrote: a sync waits for the cache to have it. */
  private written: string | undefined;
  /**
   * Far ends a CNI ADD of a local pod could not have made (their node failed), by pod and link
   * uid: asked for again at every sync of the pod, and named in its plumbing_error, until made
   * or no longer wanted (the far pod went away).
   */
  private readonly pendingFar = new Map<string, Map<number, { node: string; why: string }>>();
  private readonly kernel: SyncKernel;

  constructor(private readonly opts: ReconcilerOptions) {
    this.kernel = opts.kernel ?? kernelSync;
    this.client = new TopologyClient(opts.store);
    this.queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 30_000, workers: opts.workers ?? 1 });
    this.informer = new Informer<Topology>(opts.store, TOPOLOGY_RESOURCE, {
      // Lenient about links, as every reader of stored Topologies: bad links are reported, not fatal.
      parse: parseStored,
      onChange: (c) => this.changed(c.object, c.old),
      onError: (e) => opts.log.warn(`reconciler: watch: ${e.message}`),
    });
  }

  /** Watches, then syncs every pod of this node (the start-up resync), then follows changes. */
  async start(): Promise<void> {
    await this.informer.start();
    await this.resync();
    this.queue.run(async (key) => {
      const o = await this.sync(key);
      return o.failures.length === 0 && o.waiting.length === 0;
    }, (key, e) => this.opts.log.warn(`reconciler: ${key}: ${(e as Error).message}`));
    const every = this.opts.resyncMs ?? DEFAULT_RESYNC_MS;
    if (every > 0) {
      this.resyncTimer = setInterval(() => void this.resync(), every);
      this.resyncTimer.unref();
    }
  }

  private resyncTimer: NodeJS.Timeout | undefined;

  /**
   * Queues every pod this node has anything of: its status says it runs here (its netns may be
   * gone: a pod removed while the daemon was away), or this node holds wire ends or records for it.
   */
  async resync(): Promise<void> {
    for (const t of this.informer.list()) if (this.wasHere(t)) this.queue.add(keyOf(t.metadata.namespace, t.metadata.name));
    try {
      for (const p of await this.opts.heldPods?.() ?? []) this.queue.add(keyOf(p.namespace, p.name));
    } catch (e) {
      this.opts.log.warn(`reconciler: listing the wire records of this node: ${(e as Error).message}`);
    }
  }

  /** Syncs a pod again (something changed that the store does not show: a wire end cut under us). */
  requeue(namespace: string, name: string): void {
    this.queue.add(keyOf(namespace, name));
  }

  /**
   * A far node said a wire of this pod is down (its pod's DEL): the pod is synced again a little
   * later, when the far pod's status has settled, so a stale "down" (from a far pod that is alive
   * and lists the link) does not keep the link down: the store is the truth.
   */
  wireDown(namespace: string, name: string): void {
    this.queue.addAfter(keyOf(namespace, name), WIRE_DOWN_RECHECK_MS);
  }

  async stop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.informer.stop();
    await this.queue.stop();
  }

  /** A CNI ADD of this pod: remember its config, and that its status write is this daemon's. */
  noteAdd(pod: { namespace: string; name: string }, add: AddNote): void {
    const key = keyOf(pod.namespace, pod.name);
    this.offloads.set(key, add.disableTxOffloads);
    this.pendingFar.delete(key); // a new sandbox: its ADD says what is pending now
    if (add.mtu) this.mtus.set(key, add.mtu);
    else this.mtus.delete(key);
    this.noteWrite(add.resourceVersion);
  }

  /** A CNI ADD of this pod could not have these far ends made (plugin.ts): they are this daemon's to finish. */
  farEndsPending(namespace: string, name: string, links: ReadonlyMap<number, { node: string; why: string }>): void {
    const key = keyOf(namespace, name);
    const m = this.pendingFar.get(key) ?? new Map<number, { node: string; why: string }>();
    for (const [uid, v] of links) m.set(uid, v);
    this.pendingFar.set(key, m);
    this.queue.add(key);
  }

  noteWrite(resourceVersion: string | undefined): void {
    if (resourceVersion && (!this.written || BigInt(resourceVersion) > BigInt(this.written))) this.written = resourceVersion;
  }

  /** Alive with its sandbox on this node. */
  private isLocal(t: Topology | undefined): t is Topology {
    return !!t && isAlive(t) && t.status!.src_ip === this.opts.nodeIp && this.kernel.netnsExists(t.status!.net_ns!);
  }

  /** Alive on this node by its status (whether or not its sandbox still exists). */
  private wasHere(t: Topology | undefined): boolean {
    return !!t && isAlive(t) && t.status!.src_ip === this.opts.nodeIp;
  }

  /** Which pods of this node a change concerns: the pod itself, and the local pods linked to it. */
  private changed(now: Topology | undefined, old: Topology | undefined): void {
    const t = now ?? old;
    if (!t) return;
    const ns = t.metadata.namespace;
    // `old` by its status alone: after a DEL its sandbox is usually gone already, and the sync
    // must still run to remove what the DEL may have left (forgetPod).
    if (this.isLocal(now) || this.wasHere(old)) this.queue.add(keyOf(ns, t.metadata.name));
    for (const other of this.informer.list(ns)) {
      if (other === now || !this.isLocal(other)) continue;
      if (other.spec.links.some((l) => l.peer_pod === t.metadata.name)) this.queue.add(keyOf(ns, other.metadata.name));
    }
  }

  /** Makes one pod's links what its Topology says; returns what is left undone. */
  async sync(key: string): Promise<SyncOutcome> {
    // Act on a cache that has at least this daemon's own latest write (bounded: never stall).
    const t0 = performance.now();
    for (let i = 0; i < 100 && !this.informer.hasSeen(this.written); i++) await new Promise((r) => setTimeout(r, 20));
    const waited = performance.now() - t0;
    const o = await this.opts.lock.run(() => this.syncLocked(key));
    const done = o.failures.length === 0 && o.waiting.length === 0;
    this.opts.log.debug(`reconciler: ${key}: synced (${done ? 'done' : 'to retry'}; waited ${waited.toFixed(0)} ms for the cache, ${(performance.now() - t0 - waited).toFixed(0)} ms in sync)`);
    return o;
  }

  private async syncLocked(key: string): Promise<SyncOutcome> {
    // A CNI call may have written while this sync waited for the lock (a DEL clearing this very
    // pod's status): acting on a cache without that write would plumb a sandbox being torn down
    // (a VXLAN made in a dying netns keeps its VNI busy on the node for a while: the next ADD
    // failed with EEXIST). Try again shortly instead.
    if (!this.informer.hasSeen(this.written)) return { failures: [], waiting: ["the cache has not seen this daemon's latest write yet"] };
    const [namespace, name] = key.split('/') as [string, string];
    const cached = this.informer.get(namespace, name);
    // Links without their own mtu get the pod's config's, else --mtu (a copy: the cache stays as read).
    const me = cached && withDefaultMtu(cached, this.mtus.get(key) ?? this.opts.mtu);
    if (!this.isLocal(me)) {
      this.results.delete(key);
      this.pendingFar.delete(key);
      // Its status says it runs here but its netns is gone: removed while this daemon was away (or
      // its DEL cut short). Treated as DEL'd: far ends, then its status.
      if (this.wasHere(me)) await this.podGone(key, me!);
      // Gone, or not ours: its sandbox went with its links; what a DEL cut short may remain.
      const removed = await this.opts.forgetPod?.(namespace, name) ?? [];
      if (removed.length) this.opts.log.info(`reconciler: ${key}: the pod is not on this node: removed ${removed.join(', ')}`);
      return { failures: [], waiting: [] };
    }
    const peers = new Map(this.informer.list(namespace).map((t) => [t.metadata.name, t]));
    const planned = await planPod(me, peers, { interNodeLinkType: this.opts.interNodeLinkType, vniScheme: this.opts.vniScheme, all: () => this.informer.list() });
    const { problems } = planned;
    let { plans } = planned;
    // A link is down when either half says so (lab link down writes both; a hand edit may not).
    plans = plans.map((p) => (p.link.state !== 'down' && cablePulled(p.link, peers.get(p.link.peer_pod)) ? { ...p, link: { ...p.link, state: 'down' } } : p));
    const pod = { namespace, name };
    const podNetns = me.status!.net_ns!;
    const failures: string[] = [];
    /** Links waiting on a peer's daemon: retried (with backoff) without being an error. */
    const pending: string[] = [];
    // A peer pod read afresh from the store (not the cache) once per sync, however many of its
    // links ask: a pod with 1,500 wires to one peer read it 1,500 times (seconds of JSON parsing
    // that held up the peer requests this daemon serves).
    const reads = new Map<string, Promise<Topology | undefined>>();
    const freshPeer = (name: string) => {
      let r = reads.get(name);
      if (!r) reads.set(name, (r = this.client.get(namespace, name)));
      return r;
    };
    const k = this.kernel.session();
    try {
      // Every interface of a listed link stays, plumbed or not: a link waiting for its peer is
      // still the pod's (its peer's DEL took the far end away). Only links gone from the
      // Topology are removed.
      const wanted = new Set<string>();
      for (const l of me.spec.links) {
        wanted.add(l.local_intf);
        if (l.peer_pod === me.metadata.name) wanted.add(l.peer_intf);
      }
      for (const p of plans) {
        try {
          if (p.action === 'wait') await this.farPodDown(key, p, me, podNetns, k, freshPeer);
          else {
            await this.ensure(p, me, podNetns, k, pending, freshPeer);
            if (p.action === 'grpc') this.applyWireState(key, p, podNetns);
          }
        } catch (e) {
          failures.push(`${linkLabel(pod, p.link)}: ${(e as Error).message}`);
        }
      }
      this.removeUnwanted(key, podNetns, wanted, k, failures);
      const far = await this.retryFarEnds(key, pod, plans, podNetns, k);
      problems.push(...far);
      pending.push(...far);
    } finally {
      k.close();
    }
    const all = [...problems, ...failures];
    const error = all.length ? all.join('; ') : undefined;
    if ((me.status?.plumbing_error ?? undefined) !== error) {
      const t = await this.client.setStatus(namespace, name, { plumbing_error: error });
      this.noteWrite(t?.metadata.resourceVersion);
    }
    this.results.set(key, { ...(me.metadata.resourceVersion ? { resourceVersion: me.metadata.resourceVersion } : {}), problems: all });
    if (failures.length) this.opts.log.warn(`reconciler: ${key}: ${failures.join('; ')} (will retry)`);
    return { failures, waiting: pending };
  }

  /**
   * The far ends an ADD of this pod left unmade (farEndsPending), asked for again: what is made, or
   * no longer wanted (its link's far pod is not up), is dropped; the rest is returned as problems,
   * so plumbing_error keeps naming them until then (an error stays until its condition is gone).
   */
  private async retryFarEnds(key: string, pod: { namespace: string; name: string }, plans: LinkPlan[], podNetns: string, k: SyncSession): Promise<string[]> {
    const m = this.pendingFar.get(key);
    if (!m) return [];
    const out: string[] = [];
    for (const [uid, was] of m) {
      const p = plans.find((x) => x.link.uid === uid);
      if (!p || (p.action !== 'vxlan' && p.action !== 'grpc')) {
        m.delete(uid);
        continue;
      }
      const label = linkLabel(pod, p.link);
      if (p.action === 'grpc') {
        // A wire is made whole or not at all (wire-linker.ts): this end in place means the far one is too.
        const w = this.opts.dataplane?.endOn(podNetns, p.link.local_intf);
        if (w && !this.opts.dataplane!.isFarGone(w.id)) m.delete(uid);
        else out.push(`${label}: the far end on node ${p.peerNode} was not made (${was.why}); retrying`);
        continue;
      }
      try {
        await k.plumb(p, pod, podNetns, this.opts.nodeIp, { ...this.deps(key), ownEndsOnly: false });
        m.delete(uid);
      } catch (e) {
        m.set(uid, { node: p.peerNode, why: (e as Error).message });
        out.push(`${label}: the far end on node ${p.peerNode} was not made (${(e as Error).message}); retrying`);
        this.opts.log.warn(`reconciler: ${key}: ${label}: the far end on node ${p.peerNode} is still not made: ${(e as Error).message} (will retry)`);
      }
    }
    if (m.size === 0) this.pendingFar.delete(key);
    return out;
  }

  /**
   * A pod alive on this node by its status whose netns no longer exists: its far ends are removed
   * (as its DEL would have), then its status is cleared, on condition that it still names that
   * netns on this node (a new sandbox's ADD, here or elsewhere, wins).
   */
  private async podGone(key: string, me: Topology): Promise<void> {
    const netns = me.status!.net_ns!;
    const peers = new Map(this.informer.list(me.metadata.namespace).map((t) => [t.metadata.name, t]));
    // Not alive first, then its far ends, as a DEL does (plugin.ts: a peer re-makes the wire of a
    // pod still alive in the store). A new sandbox's status (another netns) is left alone, and
    // then its far ends are its own: nothing is removed.
    let cleared = false;
    const t = await this.client.patchStatus(me.metadata.namespace, me.metadata.name, (s) => {
      cleared = s.src_ip === this.opts.nodeIp && s.net_ns === netns;
      return cleared ? { ...s, src_ip: undefined, net_ns: undefined, container_id: undefined, plumbing_error: undefined } : s;
    });
    this.noteWrite(t?.metadata.resourceVersion);
    if (!cleared) return;
    this.opts.log.info(`reconciler: ${key}: its netns ${netns} is gone (the pod was removed while this daemon was away): treated as deleted`);
    const failures = await removeFarEnds(me, peers, this.opts.interNodeLinkType, { remote: this.opts.remote, ...(this.opts.wires ? { wires: this.opts.wires } : {}), vniScheme: this.opts.vniScheme });
    for (const f of failures) this.opts.log.warn(`reconciler: ${key}: could not remove ${f}`);
  }

  /** One link of a local pod, as its plan says: plumbed when missing or wrong, addresses as listed. */
  private async ensure(p: LinkPlan, me: Topology, podNetns: string, k: SyncSession, pending: string[], freshPeer: FreshPeer): Promise<void> {
    const key = keyOf(me.metadata.namespace, me.metadata.name);
    const pod = { namespace: me.metadata.namespace, name: me.metadata.name };
    // A changed local_ip: the old address goes before the new one is set.
    const addrKey = `${key}|${p.link.local_intf}`;
    const before = this.applied.get(addrKey);
    if (before && before !== p.link.local_ip) k.delAddr(podNetns, p.link.local_intf, before);
    if (p.action === 'grpc') {
      // One side starts a wire (upstream's rule: the pod with the greater name); the other's end
      // is made when the peer's daemon asks for it.
      // If that never comes (the peer's daemon was killed while making it, and counts the wire as
      // made because its own end exists: a half wire, found by the storm test), this side makes it
      // after a grace period; the peer's daemon then re-makes its end.
      // An end waiting for its far pod (farPodGone) counts as missing: the wire is made again on it.
      // An end whose veth was cut under the daemon (its host end deleted, say) is no wire: it is
      // removed and made again from this side at once, whichever side usually starts (the peer's
      // daemon sees nothing wrong with its own end and would never re-make it: issue 21).
      let wire = this.opts.dataplane?.endOn(podNetns, p.link.local_intf);
      let remake = false;
      if (wire && !this.opts.dataplane!.isFarGone(wire.id) && !this.opts.dataplane!.intact(wire.id, (ns, name) => k.link(ns ?? NODE_NETNS, name))) {
        this.opts.dataplane!.removeEnd(wire.id);
        this.opts.log.info(`reconciler: ${key}: ${p.link.local_intf} (grpc-wire): its veth was cut: making the wire again`);
        wire = undefined;
        remake = true;
      }
      // An end held down because its far pod's node said the far pod was gone: the store decides.
      // A far pod that is alive and lists the link makes the "down" stale (a delayed message from
      // its previous sandbox, say): this side makes the wire again, whichever side usually starts,
      // since the far node sees nothing wrong with its own end. Read afresh: the far pod's DEL
      // sends the "down" just before it clears its status.
      if (wire && this.opts.dataplane!.isFarGone(wire.id)) {
        const peer = await freshPeer(p.link.peer_pod);
        if (!peer || !isAlive(peer) || !peer.spec.links.some((l) => l.uid === p.link.uid)) {
          pending.push(`${p.link.local_intf}: waiting for ${p.link.peer_pod} to come back`);
          return;
        }
        this.opts.log.info(`reconciler: ${key}: ${p.link.local_intf} (grpc-wire): held down for its far pod, but ${p.link.peer_pod} is up and lists the link: making the wire again`);
        remake = true;
      }
      const has = !!wire && !this.opts.dataplane!.isFarGone(wire.id);
      const halfKey = `${addrKey}|${p.link.peer_pod}`;
      if (has) {
        this.halfSince.delete(halfKey);
        // A changed `mtu` on a running wire: this side's end follows its own half of the link (the
        // peer's reconciler does the same for its half), without re-making the wire.
        const mtu = p.link.mtu ?? VETH_MTU;
        if (k.link(podNetns, p.link.local_intf)?.mtu !== mtu) {
          this.opts.dataplane!.setMtu(wire!.id, mtu);
          this.opts.log.info(`reconciler: ${key}: ${p.link.local_intf} (grpc-wire): MTU ${mtu}`);
        }
        k.finishEnd(podNetns, p.link.local_intf, p.link.local_ip);
      } else if (remake || me.metadata.name > p.link.peer_pod) {
        this.halfSince.delete(halfKey);
        await k.plumb(p, pod, podNetns, this.opts.nodeIp, this.deps(key));
        this.opts.log.info(`reconciler: ${key}: ${p.link.local_intf} (grpc-wire to ${p.link.peer_pod}:${p.link.peer_intf} on ${p.peerNode}): made`);
      } else {
        const since = this.halfSince.get(halfKey) ?? Date.now();
        this.halfSince.set(halfKey, since);
        if (Date.now() - since < HALF_WIRE_GRACE_MS) {
          pending.push(`${p.link.local_intf}: waiting for ${p.link.peer_pod}'s daemon to make the wire`);
          return;
        }
        this.opts.log.info(`reconciler: ${key}: ${p.link.local_intf}: no wire from ${p.link.peer_pod}'s node after ${HALF_WIRE_GRACE_MS} ms: making it from this side`);
        this.halfSince.delete(halfKey);
        await k.plumb(p, pod, podNetns, this.opts.nodeIp, this.deps(key));
        this.opts.log.info(`reconciler: ${key}: ${p.link.local_intf} (grpc-wire to ${p.link.peer_pod}:${p.link.peer_intf} on ${p.peerNode}): made`);
      }
    } else if (p.action !== 'wait') {
      // A wire end left waiting for a far pod that came back on this node (a veth now): it goes.
      const wire = this.opts.dataplane?.endOn(podNetns, p.link.local_intf);
      if (wire) this.opts.dataplane!.removeEnd(wire.id);
      await k.plumb(p, pod, podNetns, this.opts.nodeIp, this.deps(key));
    }
    this.applied.set(addrKey, p.link.local_ip);
  }

  /**
   * A grpc-wire's own state from its link: a pulled cable (`state: down` on either half, as
   * `meshnetctl lab link down` writes; other kinds are left admin-down by plumbLink) takes the
   * host end down, so the pod's interface stays admin-up and shows NO-CARRIER; this half's
   * `impairment` is applied to the frames leaving the pod (wire/impair.ts).
   */
  private applyWireState(key: string, p: LinkPlan, podNetns: string): void {
    const dp = this.opts.dataplane;
    const wire = dp?.endOn(podNetns, p.link.local_intf);
    if (!dp || !wire) return;
    const down = p.link.state === 'down';
    if (dp.isPulled(wire.id) !== down) {
      dp.setPulled(wire.id, down);
      this.opts.log.info(`reconciler: ${key}: ${p.link.local_intf} (grpc-wire): cable ${down ? 'pulled' : 'plugged back'}`);
    }
    // This half's impairment: what frames leaving this pod's interface suffer.
    const want = impairmentOf(p.link);
    if (JSON.stringify(dp.impairmentOf(wire.id)) !== JSON.stringify(want)) {
      dp.setImpairment(wire.id, want);
      this.opts.log.info(`reconciler: ${key}: ${p.link.local_intf} (grpc-wire): ${want ? `impaired: ${JSON.stringify(p.link.impairment)}` : 'impairment removed'}`);
    }
  }

  /**
   * A link whose peer pod is not up. Its peer's DEL asks this node to take the cable down
   * (RemoteExt.RemoveEnd for a VXLAN, GRPCWireDownRemote for a wire); when that request never
   * arrived (this daemon was down, the network failed, the daemon restarted and reattached the
   * wire with carrier) this sync does it: a VXLAN end, a blackhole, is removed; a wire end stays
   * with NO-CARRIER until its far pod is back. The informer may lag behind a peer that has just
   * come back (its ADD may have made this very end), so a fresh read of the peer decides.
   */
  private async farPodDown(key: string, p: LinkPlan, me: Topology, podNetns: string, k: SyncSession, freshPeer: FreshPeer): Promise<void> {
    const wire = this.opts.dataplane?.endOn(podNetns, p.link.local_intf);
    if (wire && this.opts.dataplane!.isFarGone(wire.id)) return;
    const l = wire ? undefined : k.link(podNetns, p.link.local_intf);
    if (!wire && (l?.kind !== 'vxlan' || l.group !== MESHNET_LINK_GROUP)) return;
    const peer = await freshPeer(p.link.peer_pod);
    if (peer && isAlive(peer)) return;
    if (wire) {
      this.opts.dataplane!.farPodGone(wire.id);
      this.opts.log.info(`reconciler: ${key}: ${p.link.local_intf} (grpc-wire): NO-CARRIER, its peer ${p.link.peer_pod} is not up`);
      return;
    }
    k.deleteLink(podNetns, p.link.local_intf);
    this.opts.log.info(`reconciler: ${key}: removed ${p.link.local_intf} (VXLAN): its peer ${p.link.peer_pod} is not up`);
  }

  private deps(key: string) {
    return {
      remote: this.opts.remote, ...(this.opts.wires ? { wires: this.opts.wires } : {}), ...(this.opts.hostIntf ? { hostIntf: this.opts.hostIntf } : {}),
      disableTxOffloads: this.offloads.get(key) ?? true, vniScheme: this.opts.vniScheme, ownEndsOnly: true,
    };
  }

  /** meshnet's interfaces in the pod that its Topology no longer lists. */
  private removeUnwanted(key: string, podNetns: string, wanted: Set<string>, k: SyncSession, failures: string[]): void {
    for (const l of k.links(podNetns)) {
      if (l.group !== MESHNET_LINK_GROUP || wanted.has(l.name)) continue;
      try {
        const wire = this.opts.dataplane?.endOn(podNetns, l.name);
        if (wire) this.opts.dataplane!.removeEnd(wire.id);
        else k.deleteLink(podNetns, l.name);
        this.applied.delete(`${key}|${l.name}`);
        this.opts.log.info(`reconciler: ${key}: removed ${l.name} (${l.kind ?? 'link'}): no longer in its Topology`);
      } catch (e) {
        failures.push(`removing ${l.name}: ${(e as Error).message}`);
      }
    }
  }

  /** Resolves once a sync of `key` has seen the object at `resourceVersion` or later, or after `timeoutMs`. */
  async waitSynced(key: string, resourceVersion: string | undefined, timeoutMs: number): Promise<SyncResult | undefined> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const r = this.results.get(key);
      if (r && (!resourceVersion || !r.resourceVersion || BigInt(r.resourceVersion) >= BigInt(resourceVersion))) return r;
      await new Promise((res) => setTimeout(res, 20));
    }
    return undefined;
  }
}
