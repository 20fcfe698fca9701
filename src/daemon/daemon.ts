// meshnetd wired together: startDaemon(config) builds every part from a parsed config and returns
// what stops them (main.ts only parses, starts, waits for a signal and closes). The parts: the
// store, the grpc-wire dataplane and its peers, the reconciler, the gRPC server (peers' Remote and
// wire calls, upstream's Local), the CNI socket the exec shim forwards to, the node resync
// (deferred DELs, unseen pods), the CNI installer, and the probes and metrics.
import { existsSync } from 'node:fs';
import { versionLine } from '../build';
import type { PluginContext } from '../cni';
import { startGrpcServer, type PeerConnection, type TlsMaterial } from '../grpc';
import type { Logger } from '../log';
import { nodeIpFromDefaultRoute } from '../plumbing/node-ip';
import { PeerClients, grpcRemoteLinker } from '../plumbing/far-node-grpc';
import { createMeshnetPlugin } from '../plugins/meshnet/plugin';
import { openStore, type Store } from '../store';
import { TopologyClient } from '../topology';
import { WireDataplane } from '../wire/dataplane';
import { WireRecords } from '../wire/records';
import { daemonMetrics, listenAdmin } from './admin';
import { CniInstaller } from './cni-installer';
import { cniSocketPath, listenCniSocket } from './cni-socket';
import type { DaemonConfig } from './config';
import { listenHealth, type ReadinessCheck } from './health';
import { localHandlers } from './local-api';
import { Mutex } from './mutex';
import { NodeResync } from './node-resync';
import { PeerAuthorizer, loopbackOnly } from './peer-auth';
import { Reconciler } from './reconciler';
import { remoteExtHandlers, remoteUpdateHandler } from './remote-service';
import { listenRetrying, readTls, shimPath, storeProblem } from './startup';
import { removalWatch } from './uninstall';
import { daemonWireLinker, forgetPodWires, localWireHandlers, restoreWires, wireRemoteHandlers } from './wire-linker';
import { MeshnetError } from '../errors';

/** A start that cannot go on; `exitCode` 2 for what the operator must fix in the configuration. */
export class DaemonStartError extends MeshnetError {
  readonly code = 'DaemonStart';
  constructor(message: string, readonly exitCode: 1 | 2) {
    super(message);
  }
}

export interface Daemon {
  /** Stops every part: the CNI config stays chained unless meshnet is being uninstalled (uninstall.ts). */
  close(): Promise<void>;
}

/** Restores the wire ends recorded for this node; retried with backoff while the store does not answer. */
function wireRestorer(dataplane: WireDataplane, records: WireRecords, log: Logger): { restored(): boolean; start(): Promise<void>; stop(): void } {
  let restored = false;
  let stopped = false;
  const attempt = async () => {
    try {
      await restoreWires(dataplane, records, log);
      restored = true;
    } catch (e) {
      log.warn(`wires: could not read GWireKObj records (will retry): ${(e as Error).message}`);
    }
  };
  return {
    restored: () => restored,
    async start() {
      await attempt();
      if (restored) return;
      void (async () => {
        for (let delay = 2000; !restored && !stopped; delay = Math.min(delay * 2, 30_000)) {
          await new Promise((r) => setTimeout(r, delay).unref());
          if (!stopped) await attempt();
        }
      })();
    },
    stop: () => { stopped = true; },
  };
}

export async function startDaemon(cfg: DaemonConfig, log: Logger): Promise<Daemon> {
  const nodeIp = cfg.nodeIp ?? nodeIpFromDefaultRoute();
  if (!nodeIp) throw new DaemonStartError('the node IP is needed: set --node-ip or HOST_IP (this node has no IPv4 default route to derive it from)', 2);
  let store: Store;
  try {
    store = await openStore(cfg.store);
  } catch (e) {
    throw new DaemonStartError(`--store ${cfg.store}: ${(e as Error).message}`, 2);
  }
  // Not fatal: the API server may come later (kubelet restarts us otherwise); readiness says so.
  const startProblem = await storeProblem(store);
  if (startProblem) log.warn(`store ${cfg.store}: ${startProblem}`);
  let tls: TlsMaterial | undefined;
  try {
    tls = readTls(cfg.peerTls);
  } catch (e) {
    throw new DaemonStartError((e as Error).message, 2);
  }
  const { grpcPort, interNodeLinkType: linkType, hostIntf, nodeName } = cfg;
  // Peers are dialled with TLS only once every daemon serves it (require); permit still dials plaintext.
  const dialTls = cfg.peerTls.mode === 'require' ? tls : undefined;
  const peers = new PeerClients(grpcPort, undefined, dialTls);
  const remote = grpcRemoteLinker({ peers });
  const dataplane = new WireDataplane({
    grpcPort, log, ...(dialTls ? { tls: dialTls } : {}),
    // A wire end cut under the daemon is made again by its pod's next sync.
    onEndBroken: (end) => { if (end.pod) reconciler.requeue(end.pod.namespace, end.pod.name); },
  });
  // Upstream's daemons know their node by NODE_NAME; records are keyed by it.
  const records = new WireRecords(store, nodeName);
  const wires = daemonWireLinker(dataplane, peers, records, nodeName);
  const lock = new Mutex();
  const reconciler = new Reconciler({
    store, nodeIp, interNodeLinkType: linkType, vniScheme: cfg.vniScheme, ...(hostIntf ? { hostIntf } : {}),
    remote, wires, dataplane, lock, log, ...(cfg.mtu ? { mtu: cfg.mtu } : {}),
    forgetPod: (ns, name) => forgetPodWires(dataplane, records, ns, name),
    heldPods: async () => [
      ...dataplane.findEnds(() => true).flatMap((e) => (e.pod ? [e.pod] : [])),
      ...(await records.list()).map((i) => ({ namespace: i.topo_namespace, name: i.local_pod_name })),
    ],
  });
  // Every peer request that touches a pod is checked against the store first (peer-auth.ts).
  const topologyClient = new TopologyClient(store);
  const auth = new PeerAuthorizer({
    nodeIp, vniScheme: cfg.vniScheme, log,
    topologies: { cached: (ns) => reconciler.informer.list(ns), fresh: (ns) => topologyClient.list(ns), freshOne: (ns, n) => topologyClient.get(ns, n) },
  });
  const wireRemote = wireRemoteHandlers(dataplane, records, nodeName, log, auth, cfg.mtu, (pod) => reconciler.wireDown(pod.namespace, pod.name));
  const metrics = daemonMetrics({ node: nodeName, dataplane, denied: auth.denied });
  const grpc = await listenRetrying(log, () => startGrpcServer({
    host: nodeIp.includes(':') ? '::' : '0.0.0.0',
    port: grpcPort,
    log,
    onCall: (method, code) => metrics.grpcCalls.inc({ method, code }),
    ...(tls && cfg.peerTls.mode !== 'off' ? {
      tls: { ...tls, mode: cfg.peerTls.mode },
      // Told apart in the log and in meshnetd_peer_connections_total{transport,result}.
      onConnection: (c: PeerConnection) => {
        metrics.peerConnections.inc({ transport: c.transport, result: c.accepted ? 'accepted' : 'refused' });
        (c.accepted ? log.info : log.warn)(`peer connection from ${c.from} ${c.accepted ? 'accepted' : 'refused'}: ${c.detail}`, { transport: c.transport, peer: c.from });
      },
    } : {}),
    local: loopbackOnly({ ...localHandlers(topologyClient, { nodeIp, ...(hostIntf ? { nodeIntf: hostIntf } : {}) }), ...localWireHandlers(dataplane, records, nodeName, log) }, auth),
    // Frames of peer streams go straight to the dataplane (the raw receive path serves every
    // SendToStream); SendToOnce, upstream's one call per frame, through connect.
    // Each frame is delivered only if it comes from its wire's peer node (wire/table.ts).
    wireFrames: (p, from) => dataplane.deliverOne(p, from),
    wireStreamOpened: (from) => dataplane.peerSeen(from),
    wire: { sendToOnce: (p, call) => { dataplane.deliverOne(p, call.peerAddress); return true; } },
    remote: { ...wireRemote, update: remoteUpdateHandler(nodeIp, hostIntf, log, auth) },
    ext: remoteExtHandlers(log, auth),
  }));
  const path = cniSocketPath('meshnet');
  const plugin = createMeshnetPlugin({
    remote, interNodeLinkType: linkType, wires,
    store: { ref: cfg.store, store }, nodeIp, ...(hostIntf ? { hostIntf } : {}), log, vniScheme: cfg.vniScheme, ...(cfg.mtu ? { mtu: cfg.mtu } : {}),
    observer: {
      alive: (pod, add) => reconciler.noteAdd(pod, add),
      wrote: (rv) => reconciler.noteWrite(rv),
      farEndsPending: (ns, name, links) => reconciler.farEndsPending(ns, name, links),
    },
  });
  // CNI calls and reconciler syncs take turns (mutex.ts).
  const locked = {
    ...plugin,
    add: (ctx: PluginContext) => lock.run(() => plugin.add(ctx)),
    del: (ctx: PluginContext) => lock.run(() => plugin.del(ctx)),
    ...(plugin.check ? { check: (ctx: PluginContext) => lock.run(() => plugin.check!(ctx)) } : {}),
  };
  let reconcilerSynced = false;
  const resync = new NodeResync({
    cniSocket: path, plugin: locked, ...(cfg.criSocket ? { criSocket: cfg.criSocket } : {}), cniConfDir: cfg.cniConfDir, log,
    topologies: () => (reconcilerSynced ? reconciler.informer.list() : undefined),
  });
  const cni = await listenCniSocket(path, locked, log, (c) => {
    metrics.cniCalls.observe({ command: c.command, result: c.exitCode ? 'error' : 'ok' }, c.ms / 1000);
    if (c.command === 'DEL') resync.noteDel(c.containerId);
  });
  // Wire records must be read before this daemon can reattach surviving wires; an API server that
  // is not answering yet only delays that (retried in the background), and /readyz says so.
  const restorer = wireRestorer(dataplane, records, log);
  await restorer.start();
  await resync.runDeferred();
  // The reconciler follows the store from here on (its first list waits for the store to answer,
  // without holding up the CNI socket; readiness says when it has synced).
  void reconciler.start().then(() => { reconcilerSynced = true; void resync.adopt(); }, (e: Error) => log.error(`reconciler: ${e.message}`));
  resync.start();
  let installer: CniInstaller | undefined;
  if (cfg.cniInstall) {
    installer = new CniInstaller({
      confDir: cfg.cniConfDir, binDir: cfg.cniBinDir, shim: shimPath(), interNodeLinkType: linkType, resyncMs: 10_000,
      log: log.with({ component: 'cni-installer' }),
    });
    try {
      if (!existsSync(shimPath())) throw new Error(`the exec shim ${shimPath()} is missing from this installation`);
      installer.start();
    } catch (e) {
      // What a previous daemon chained stays: pods get error 11 (and are retried) until a daemon runs.
      installer.stop();
      resync.stop();
      restorer.stop();
      await reconciler.stop();
      await cni.close();
      await grpc.close();
      dataplane.close();
      remote.close();
      throw new DaemonStartError(`cni install: cannot install: ${(e as Error).message}`, 1);
    }
  }
  // Who can tell an uninstall from a rollout at exit (uninstall.ts): the DaemonSet owning this pod.
  const removal = installer ? await removalWatch(cfg.store, log) : undefined;
  const checks: ReadinessCheck[] = [
    { name: 'store', check: () => storeProblem(store) },
    { name: 'wires', check: async () => (restorer.restored() ? undefined : 'the GWireKObj wire records of this node have not been read yet') },
    { name: 'reconciler', check: async () => (reconcilerSynced ? undefined : 'the Topology watch has not listed the store yet') },
    ...(installer ? [{ name: 'cni config', check: async () => (installer!.installed ? undefined : `meshnet is not chained in ${cfg.cniConfDir} yet (no primary CNI config?)`) }] : []),
  ];
  const admin = await listenAdmin(cniSocketPath('meshnetd-admin'), metrics.registry, dataplane, checks);
  const health = cfg.healthPort ? await listenHealth(cfg.healthPort, checks, metrics.registry) : undefined;
  log.info(`${versionLine('meshnetd')} pid ${process.pid} node ${nodeName} (${nodeIp}): CNI calls on ${path}, gRPC on port ${grpc.port}, inter-node links: ${linkType}${linkType === 'vxlan' ? ` (VNIs: ${cfg.vniScheme})` : ''}, ` +
    `store ${cfg.store}, peer TLS ${cfg.peerTls.mode}, metrics on ${cniSocketPath('meshnetd-admin')}${health ? ` and on port ${health.port} (with /healthz, /readyz)` : ''}`);

  return {
    async close() {
      restorer.stop();
      resync.stop();
      if (installer) {
        const verdict = removal ? await removal.check() : undefined;
        if (verdict?.removed) {
          log.info(`meshnet is being uninstalled (${verdict.why}): removing it from the node's CNI config`);
          installer.uninstall();
        } else {
          installer.stop();
          log.info(`meshnet stays chained in ${cfg.cniConfDir} (${verdict?.why ?? 'no DaemonSet to ask'}): pods made while no meshnetd runs are answered "try again later"`);
        }
      }
      await reconciler.stop();
      await cni.close();
      await admin.close();
      await health?.close();
      await grpc.close();
      log.info('wire stats', { ...dataplane.stats() });
      dataplane.close();
      remote.close();
      (store as { close?: () => void }).close?.();
    },
  };
}
