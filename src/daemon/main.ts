// meshnetd: the node daemon. Serves the meshnet plugin's CNI calls on its local socket (the exec
// shim forwards them, so a call costs the plumbing, not a Node start-up) and meshnet's gRPC API
// (meshnet.v1beta1, port 51111): Remote.Update makes this node's end of a cross-node VXLAN link,
// the wire services carry grpc-wire frames, Local answers upstream's plugin-side calls from the
// store. In a cluster it also installs the shim and chains meshnet into the node's CNI config.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { daemonMetrics, listenAdmin } from './admin';
import { versionLine } from '../build';
import { createLogger, type Logger } from '../log';
import { cniSocketPath, listenCniSocket, serveCniRequest } from './cni-socket';
import { deferredDir, runDeferredDels } from './deferred-del';
import { meshnetBeingRemoved, ownerDaemonSet } from './uninstall';
import type { PluginContext } from '../cni';
import { CniInstaller, MESHNET_CONFLIST } from './cni-installer';
import { adoptUnseenPods } from './adopt';
import { ConfigError, USAGE, parseDaemonConfig, type DaemonConfig } from './config';
import { listenHealth, type ReadinessCheck } from './health';
import { PeerClients, grpcRemoteLinker } from '../meshnet/remote-linker';
import { startCpuProfile } from './cpu-profile';
import { daemonWireLinker, forgetPodWires, localWireHandlers, restoreWires, wireRemoteHandlers } from './wire-linker';
import { Mutex } from './mutex';
import { Reconciler } from './reconciler';
import { WireRecords } from '../wire/records';
import { WireDataplane } from '../wire/dataplane';
import { createMeshnetPlugin } from '../plugins/meshnet/plugin';
import { nodeIpFromDefaultRoute } from '../meshnet/node-ip';
import { startGrpcServer, type PeerConnection, type TlsMaterial } from '../grpc';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { remoteExtHandlers, remoteUpdateHandler } from './remote-api';
import { PeerAuthorizer, loopbackOnly } from './peer-auth';
import { StoreError, openStore, type Store } from '../store';
import { TOPOLOGY_RESOURCE, TopologyClient } from '../topology';
import { localHandlers } from './local-api';

/** How often DELs the shim deferred (deferred-del.ts) and pods the runtime runs unseen (adopt.ts) are looked for. */
const NODE_RESYNC_MS = 30_000;

/** The cniVersion of meshnet's chained config in `confDir` (what the runtime would send us), else 1.0.0. */
function installedCniVersion(confDir: string): string {
  try {
    const v = (JSON.parse(readFileSync(join(confDir, MESHNET_CONFLIST), 'utf8')) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' ? v : '1.0.0';
  } catch {
    return '1.0.0';
  }
}

/** A name no Topology can have in practice: its NotFound proves the store answers. */
const PROBE_NAME = 'meshnetd-readiness-probe';

/** The exec shim the installer copies: dist/cni/meshnet next to this bundle (the image's layout). */
function shimPath(): string {
  return resolve(join(dirname(process.argv[1] ?? '.'), 'cni', 'meshnet'));
}

/** The store answers (NotFound for the probe object counts): for /readyz and the start-up check. */
async function storeProblem(store: Store): Promise<string | undefined> {
  try {
    await store.get(TOPOLOGY_RESOURCE, 'default', PROBE_NAME);
    return undefined;
  } catch (e) {
    return e instanceof StoreError ? e.message : String(e);
  }
}

/** The PEM files of --peer-tls, read once at start (restart to pick up renewed ones); errors name the flag. */
function readTls(t: DaemonConfig['peerTls']): TlsMaterial | undefined {
  if (t.mode === 'off') return undefined;
  const read = (flag: string, path: string | undefined): Buffer => {
    try {
      return readFileSync(path!);
    } catch (e) {
      throw new Error(`--tls-${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const m = { cert: read('cert', t.cert), key: read('key', t.key), ca: read('ca', t.ca) };
  // Checked now rather than at the first peer's handshake.
  try {
    createSecureContext({ cert: m.cert, key: m.key, ca: m.ca });
  } catch (e) {
    throw new Error(`--tls-cert/--tls-key/--tls-ca: not a usable certificate, key and CA: ${(e as Error).message}`);
  }
  return m;
}

/** How long a start waits for the gRPC port to be free (see listenRetrying). */
const PORT_WAIT_MS = 60_000;

/**
 * Starts the gRPC server, waiting while its port is still held. A killed meshnetd's port stays
 * bound until the kernel has closed all of its sockets, and closing hundreds of grpc-wire packet
 * sockets takes seconds (one RCU grace period each): the restarted daemon, as kubelet starts it at
 * once, would otherwise fail with EADDRINUSE and go into CrashLoopBackOff (measured in the storm
 * test: a zombie holding 0.0.0.0:51111 for seconds after SIGKILL).
 */
async function listenRetrying<T>(log: Logger, start: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + PORT_WAIT_MS;
  for (let told = false; ; ) {
    try {
      return await start();
    } catch (e) {
      if ((e as { cause?: { code?: string } }).cause?.code !== 'EADDRINUSE' || Date.now() > deadline) throw e;
      if (!told) log.warn(`${(e as Error).message}: waiting for it to be released (a previous meshnetd still exiting?)`);
      told = true;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The exit-time uninstall question, when this daemon is a DaemonSet pod that can ask it. */
async function removalWatch(storeRef: string, log: Logger): Promise<{ check(): Promise<{ removed: boolean; why: string }> } | undefined> {
  const { connect } = await import('../store/kube/connection');
  const conn = connect(storeRef);
  const owner = await ownerDaemonSet(conn, process.env);
  if (typeof owner === 'string') {
    log.info(`cni install: ${owner}; meshnet's CNI config will stay on exit (meshnetd --cni-uninstall removes it)`);
    conn.close();
    return undefined;
  }
  log.info(`cni install: owned by DaemonSet ${owner.namespace}/${owner.name}: meshnet leaves the node's CNI config only when that DaemonSet is deleted`);
  return {
    check: async () => {
      try {
        return await meshnetBeingRemoved(conn, owner);
      } finally {
        conn.close();
      }
    },
  };
}

/** `meshnetd --cni-uninstall`: meshnet out of the node's CNI config, by hand. */
function uninstallOnly(cfg: DaemonConfig): number {
  const log = createLogger({ format: cfg.logFormat, level: cfg.logLevel, fields: { component: 'cni-installer', node: cfg.nodeName } });
  new CniInstaller({ confDir: cfg.cniConfDir, binDir: cfg.cniBinDir, shim: shimPath(), interNodeLinkType: cfg.interNodeLinkType, resyncMs: 10_000, log }).uninstall();
  log.info(`meshnet removed from ${cfg.cniConfDir}`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let cfg: DaemonConfig | 'version' | undefined;
  try {
    cfg = parseDaemonConfig(argv, process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`meshnetd: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (!cfg) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (cfg === 'version') {
    process.stdout.write(`${versionLine('meshnetd')}\n`);
    return 0;
  }
  if (cfg.cniUninstall) return uninstallOnly(cfg);
  // From the start: a rollout may stop a daemon that is still starting (as PID 1 of its container,
  // without a handler it would die by the signal, exit code 143, skipping its shutdown).
  const stopSignal = new Promise<string>((resolveStop) => {
    process.once('SIGTERM', () => resolveStop('SIGTERM'));
    process.once('SIGINT', () => resolveStop('SIGINT'));
  });
  const log = createLogger({ format: cfg.logFormat, level: cfg.logLevel, fields: { component: 'meshnetd', node: cfg.nodeName } });
  const profiler = process.env.MESHNETD_CPU_PROFILE ? startCpuProfile(process.env.MESHNETD_CPU_PROFILE, cfg.nodeName) : undefined;
  const nodeIp = cfg.nodeIp ?? nodeIpFromDefaultRoute();
  if (!nodeIp) {
    process.stderr.write('meshnetd: the node IP is needed: set --node-ip or HOST_IP (this node has no IPv4 default route to derive it from)\n');
    return 2;
  }
  const grpcPort = cfg.grpcPort;
  const linkType = cfg.interNodeLinkType;
  let store: Store;
  try {
    store = await openStore(cfg.store);
  } catch (e) {
    process.stderr.write(`meshnetd: --store ${cfg.store}: ${(e as Error).message}\n`);
    return 2;
  }
  // Not fatal: the API server may come later (kubelet restarts us otherwise); readiness says so.
  const startProblem = await storeProblem(store);
  if (startProblem) log.warn(`store ${cfg.store}: ${startProblem}`);
  const hostIntf = cfg.hostIntf;
  let tls: TlsMaterial | undefined;
  try {
    tls = readTls(cfg.peerTls);
  } catch (e) {
    process.stderr.write(`meshnetd: ${(e as Error).message}\n`);
    return 2;
  }
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
  const nodeName = cfg.nodeName;
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
      alive: (ns, name, dto, rv, mtu) => reconciler.noteAdd(ns, name, dto, rv, mtu),
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
  // Sandboxes whose DEL this daemon served (the newest few thousand): never adopted (adopt.ts).
  const deletedSandboxes = new Set<string>();
  const cni = await listenCniSocket(path, locked, log, (c) => {
    metrics.cniCalls.observe({ command: c.command, result: c.exitCode ? 'error' : 'ok' }, c.ms / 1000);
    if (c.command === 'DEL') {
      deletedSandboxes.add(c.containerId);
      if (deletedSandboxes.size > 4096) deletedSandboxes.delete(deletedSandboxes.values().next().value!);
    }
  });
  // DELs the shim left while no daemon answered (deferred-del.ts): run now and at every resync.
  const runDeferred = async () => {
    try {
      await runDeferredDels(deferredDir(path), async (req) => {
        let result = { exitCode: 1, stdout: '' };
        await serveCniRequest(locked, req, (l) => { result = { exitCode: l.exitCode, stdout: l.stdout }; }, (e) => log.warn(e.trimEnd()));
        return result;
      }, log);
    } catch (e) {
      log.warn(`deferred DELs: ${(e as Error).message}`);
    }
  };
  // Wire records must be read before this daemon can reattach surviving wires; an API server that
  // is not answering yet only delays that (retried with backoff in the background), and /readyz
  // says so meanwhile.
  let wiresRestored = false;
  let stopping = false;
  const tryRestore = async () => {
    try {
      await restoreWires(dataplane, records, log);
      wiresRestored = true;
    } catch (e) {
      log.warn(`wires: could not read GWireKObj records (will retry): ${(e as Error).message}`);
    }
  };
  await tryRestore();
  if (!wiresRestored) {
    void (async () => {
      for (let delay = 2000; !wiresRestored && !stopping; delay = Math.min(delay * 2, 30_000)) {
        await new Promise((r) => setTimeout(r, delay).unref());
        if (!stopping) await tryRestore();
      }
    })();
  }
  await runDeferred();
  // The reconciler follows the store from here on (its first list waits for the store to answer,
  // without holding up the CNI socket; readiness says when it has synced).
  let reconcilerSynced = false;
  // Pods the runtime runs that meshnet never saw (adopt.ts), asked of the node's CRI.
  const adopt = async () => {
    if (!cfg.criSocket || !reconcilerSynced) return;
    try {
      await adoptUnseenPods({
        socket: cfg.criSocket, topologies: () => reconciler.informer.list(), deleted: deletedSandboxes, log,
        cniVersion: installedCniVersion(cfg.cniConfDir),
        run: async (req) => {
          let result = { exitCode: 1, stdout: '' };
          await serveCniRequest(locked, req, (l) => { result = { exitCode: l.exitCode, stdout: l.stdout }; }, (e) => log.warn(e.trimEnd()));
          return result;
        },
      });
    } catch (e) {
      log.warn(`asking the container runtime at ${cfg.criSocket} for pods: ${(e as Error).message}`);
    }
  };
  void reconciler.start().then(() => { reconcilerSynced = true; void adopt(); }, (e: Error) => log.error(`reconciler: ${e.message}`));
  // What no event announces, looked for again now and then: DELs the shim left, unseen pods.
  const nodeResync = setInterval(() => void runDeferred().then(adopt), NODE_RESYNC_MS);
  nodeResync.unref();
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
      log.error(`cni install: cannot install: ${(e as Error).message}`);
      // What a previous daemon chained stays: pods get error 11 (and are retried) until a daemon runs.
      installer.stop();
      await cni.close();
      await grpc.close();
      dataplane.close();
      remote.close();
      return 1;
    }
  }
  // Who can tell an uninstall from a rollout at exit (uninstall.ts): the DaemonSet owning this pod.
  const removal = installer && cfg.store.startsWith('kubernetes') ? await removalWatch(cfg.store, log) : undefined;
  const checks: ReadinessCheck[] = [
    { name: 'store', check: () => storeProblem(store) },
    { name: 'wires', check: async () => (wiresRestored ? undefined : 'the GWireKObj wire records of this node have not been read yet') },
    { name: 'reconciler', check: async () => (reconcilerSynced ? undefined : 'the Topology watch has not listed the store yet') },
    ...(installer ? [{ name: 'cni config', check: async () => (installer!.installed ? undefined : `meshnet is not chained in ${cfg!.cniConfDir} yet (no primary CNI config?)`) }] : []),
  ];
  const admin = await listenAdmin(cniSocketPath('meshnetd-admin'), metrics.registry, dataplane, checks);
  const health = cfg.healthPort ? await listenHealth(cfg.healthPort, checks, metrics.registry) : undefined;
  log.info(`${versionLine('meshnetd')} pid ${process.pid} node ${nodeName} (${nodeIp}): CNI calls on ${path}, gRPC on port ${grpc.port}, inter-node links: ${linkType}${linkType === 'vxlan' ? ` (VNIs: ${cfg.vniScheme})` : ''}, ` +
    `store ${cfg.store}, peer TLS ${cfg.peerTls.mode}, metrics on ${cniSocketPath('meshnetd-admin')}${health ? ` and on port ${health.port} (with /healthz, /readyz)` : ''}`);
  const sig = await stopSignal;
  log.info(`${sig}: shutting down`);
  stopping = true;
  clearInterval(nodeResync);
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
  if (profiler) log.info(`CPU profile written to ${await profiler.stop()}`);
  (store as { close?: () => void }).close?.();
  return 0;
}
