// meshnetd's settings, from flags first and upstream's environment second (a KNE or upstream
// DaemonSet sets HOST_IP, HOST_INTF, GRPC_PORT, NODE_NAME and INTER_NODE_LINK_TYPE), parsed once
// into typed values; every error names the flag or variable.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from '../cni';
import { MESHNET_GRPC_PORT, PEER_TLS_MODES, type PeerTlsMode } from '../grpc';
import { MAX_MTU, MIN_MTU, isValidIfName } from '../topology';
import { DEFAULT_STORE_DIR, STORE_REF_FORMS, isStoreRef } from '../store';
import { VNI_SCHEMES, type VniScheme } from '../plumbing/vxlan';
import { LOG_LEVELS, LogConfigError, logSettings, type LogFormat, type LogLevel } from '../log';
import { MeshnetError } from '../errors';

export const DEFAULT_HEALTH_PORT = 51112;
/** Where a node's runtime usually listens (containerd's, k3s's, CRI-O's); the first that exists is used. */
export const DEFAULT_CRI_SOCKETS = ['/run/containerd/containerd.sock', '/run/k3s/containerd/containerd.sock', '/var/run/crio/crio.sock'];

export interface DaemonConfig {
  /** This node's IP (VXLAN endpoint, status.src_ip, Local.Get's node_ip); undefined: the default route's. */
  nodeIp?: string;
  /** The underlay interface for VXLAN ends (upstream's HOST_INTF). */
  hostIntf?: string;
  grpcPort: number;
  nodeName: string;
  interNodeLinkType: 'vxlan' | 'grpc';
  /** How VXLAN VNIs are numbered; every daemon of a cluster alike. */
  vniScheme: VniScheme;
  /** Store reference: the one store of the daemon and of the plugin calls it serves. */
  store: string;
  /** Running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is set). */
  inCluster: boolean;
  cniInstall: boolean;
  /** `--cni-uninstall`: remove meshnet's chained CNI config and exit. */
  cniUninstall: boolean;
  /** The node's container runtime (CRI socket), asked for pods meshnet never saw (adopt.ts); undefined: off. */
  criSocket?: string;
  cniConfDir: string;
  cniBinDir: string;
  /** /healthz and /readyz on this TCP port (all addresses; the DaemonSet's probes); 0: off. */
  healthPort: number;
  /** mTLS between daemons (grpc/tls.ts): off (default), permit or require, with the PEM files. */
  peerTls: { mode: PeerTlsMode; cert?: string; key?: string; ca?: string };
  /** MTU of veth links and grpc-wires whose Topology link sets none (`--mtu`); undefined: 1500. */
  mtu?: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
  lab?: string;
}

export class ConfigError extends MeshnetError {
  readonly code = 'InvalidConfig';
}

export const USAGE = `usage: meshnetd [flags]
  Serves the meshnet CNI plugin on /run/meshnet/meshnet-<netns inode>.sock for the network
  namespace it runs in (run it in the node's netns, as the hostNetwork DaemonSet does), and
  meshnet's gRPC API for peer daemons. Flags override upstream's environment variables.
  --node-ip IP            this node's IP (env HOST_IP); default: the source of the IPv4 default route
  --host-intf NAME        underlay interface for VXLAN links (env HOST_INTF); default: the node IP's
  --grpc-port PORT        gRPC port (env GRPC_PORT; default ${MESHNET_GRPC_PORT})
  --node NAME             this node's name (env NODE_NAME, else the host name): keys its GWireKObj records
  --inter-node-link-type vxlan|grpc   how pods on different nodes are linked (env INTER_NODE_LINK_TYPE; default vxlan)
  --vni-scheme kne|upstream   VXLAN VNIs: kne (uid + a block per namespace, as KNE's daemons; default) or
                          upstream (5000 + uid, for clusters that mix in upstream meshnet daemons)
  --store REF             where Topology and GWireKObj objects are: ${STORE_REF_FORMS}
                          (default: kubernetes in a pod, else ${DEFAULT_STORE_DIR}); the CNI calls it
                          serves use the same store
  --cni-install | --no-cni-install    copy the exec shim to the CNI bin dir and chain meshnet into the
                          node's CNI config while running (default: on in a pod, off elsewhere)
                          (the chained config stays when meshnetd stops: a rollout must not drop meshnet
                          from the node; it goes when meshnet's DaemonSet is deleted, or by --cni-uninstall)
  --cni-uninstall         remove meshnet's chained CNI config (and the link-type file) and exit
  --cri-socket PATH|off   the node's container runtime (CRI), asked for pods running without their links because
                          meshnet was not chained when they started (default: the first of ${DEFAULT_CRI_SOCKETS.join(', ')} that
                          exists, with --cni-install; off: never ask)
  --cni-conf-dir DIR      CNI config directory (default /etc/cni/net.d)
  --cni-bin-dir DIR       CNI plugin directory (default /opt/cni/bin)
  --health-port PORT      HTTP on all addresses: GET /healthz and /readyz for probes, /metrics for Prometheus
                          (default ${DEFAULT_HEALTH_PORT} in a pod, else off; 0: off); /metrics is also on the admin socket
  --peer-tls off|permit|require   mTLS between daemons (default off, as upstream): permit serves TLS and
                          plaintext and dials plaintext (a migration step); require dials TLS and
                          accepts plaintext only from loopback; peers' certificates must be signed by
                          --tls-ca and name the IP they connect from
  --tls-cert FILE, --tls-key FILE, --tls-ca FILE   PEM files for --peer-tls (scripts/make-certs.sh)
  --mtu N                 MTU of veth links and grpc-wires whose link sets no mtu (default 1500; a plugin
                          config's "mtu" wins for its pods; VXLAN links get the underlay's MTU - 50)
  --log-format logfmt|json   log lines on stderr (env LOG_FORMAT; default logfmt)
  --log-level LEVEL       ${LOG_LEVELS.join(', ')} (env LOG_LEVEL; default info)
  --version               print the version and exit
  --lab NAME              lets "meshnetctl lab down" find lab daemons
  --help`;

const VALUE_FLAGS = ['cri-socket', 'node', 'lab', 'node-ip', 'host-intf', 'grpc-port', 'store', 'inter-node-link-type', 'vni-scheme', 'cni-conf-dir', 'cni-bin-dir', 'health-port', 'log-format', 'log-level', 'peer-tls', 'tls-cert', 'tls-key', 'tls-ca', 'mtu'];

function port(v: string, what: string, allowZero = false): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535 || (n === 0 && !allowZero)) throw new ConfigError(`${what}: ${JSON.stringify(v)} is not a port number`);
  return n;
}

/** --cri-socket: a path, `off`, or (unset) the usual sockets when meshnetd installs into the node's CNI config. */
function criSocketOf(v: string | undefined, installs: boolean): { criSocket?: string } {
  if (v === 'off') return {};
  if (v !== undefined) {
    if (!v.startsWith('/')) throw new ConfigError(`--cri-socket: must be an absolute path or off, got ${JSON.stringify(v)}`);
    return { criSocket: v };
  }
  const found = installs ? DEFAULT_CRI_SOCKETS.find((p) => existsSync(p)) : undefined;
  return found ? { criSocket: found } : {};
}

/** `undefined` when --help was asked for, 'version' for --version. */
export function parseDaemonConfig(argv: string[], env: Record<string, string | undefined>): DaemonConfig | 'version' | undefined {
  const f: Record<string, string> = {};
  let install: boolean | undefined;
  let uninstall = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return undefined;
    if (a === '--version') return 'version';
    if (a === '--cni-install' || a === '--no-cni-install') { install = a === '--cni-install'; continue; }
    if (a === '--cni-uninstall') { uninstall = true; continue; }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !VALUE_FLAGS.includes(m[1]!)) throw new ConfigError(`unknown argument ${JSON.stringify(a)}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new ConfigError(`${a} needs a value`);
    f[m[1]!] = v;
  }
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST);
  const pick = (flag: string, envName: string) => (f[flag] !== undefined ? { v: f[flag], what: `--${flag}` } : env[envName] ? { v: env[envName]!, what: envName } : undefined);

  const ip = pick('node-ip', 'HOST_IP');
  if (ip && !isIP(ip.v)) throw new ConfigError(`${ip.what}: ${JSON.stringify(ip.v)} is not an IP address`);
  const intf = pick('host-intf', 'HOST_INTF');
  if (intf && !isValidIfName(intf.v)) throw new ConfigError(`${intf.what}: ${JSON.stringify(intf.v)} is not an interface name`);
  const gp = pick('grpc-port', 'GRPC_PORT');
  const lt = pick('inter-node-link-type', 'INTER_NODE_LINK_TYPE');
  const linkType = (lt?.v ?? 'vxlan').toLowerCase();
  if (linkType !== 'vxlan' && linkType !== 'grpc') throw new ConfigError(`${lt!.what}: must be vxlan or grpc, got ${JSON.stringify(lt!.v)}`);
  const vniScheme = f['vni-scheme'] ?? 'kne';
  if (!VNI_SCHEMES.includes(vniScheme as VniScheme)) throw new ConfigError(`--vni-scheme: must be ${VNI_SCHEMES.join(' or ')}, got ${JSON.stringify(vniScheme)}`);
  const store = f.store ?? (inCluster ? 'kubernetes' : DEFAULT_STORE_DIR);
  if (!isStoreRef(store)) throw new ConfigError(`--store: must be ${STORE_REF_FORMS}, got ${JSON.stringify(store)}`);
  let logs;
  try {
    logs = logSettings(env, { ...(f['log-format'] !== undefined ? { format: f['log-format'] } : {}), ...(f['log-level'] !== undefined ? { level: f['log-level'] } : {}) });
  } catch (e) {
    if (e instanceof LogConfigError) throw new ConfigError(e.message);
    throw e;
  }
  const tlsMode = f['peer-tls'] ?? 'off';
  if (!(PEER_TLS_MODES as readonly string[]).includes(tlsMode)) throw new ConfigError(`--peer-tls: must be ${PEER_TLS_MODES.join(', ')}, got ${JSON.stringify(tlsMode)}`);
  const tlsFiles = { cert: f['tls-cert'], key: f['tls-key'], ca: f['tls-ca'] };
  for (const [k, v] of Object.entries(tlsFiles)) {
    if (tlsMode === 'off' && v !== undefined) throw new ConfigError(`--tls-${k}: needs --peer-tls permit or require`);
    if (tlsMode !== 'off' && v === undefined) throw new ConfigError(`--peer-tls ${tlsMode}: --tls-${k} is missing`);
  }
  let mtu: number | undefined;
  if (f.mtu !== undefined) {
    mtu = Number(f.mtu);
    if (!/^\d+$/.test(f.mtu) || mtu < MIN_MTU || mtu > MAX_MTU) throw new ConfigError(`--mtu: must be an integer from ${MIN_MTU} to ${MAX_MTU}, got ${JSON.stringify(f.mtu)}`);
  }
  const hp = f['health-port'] !== undefined ? port(f['health-port'], '--health-port', true) : inCluster ? DEFAULT_HEALTH_PORT : 0;
  return {
    ...(ip ? { nodeIp: ip.v } : {}),
    ...(intf ? { hostIntf: intf.v } : {}),
    grpcPort: gp ? port(gp.v, gp.what) : MESHNET_GRPC_PORT,
    nodeName: f.node ?? (env.NODE_NAME || hostname()),
    interNodeLinkType: linkType,
    vniScheme: vniScheme as VniScheme,
    store, inCluster,
    cniInstall: install ?? inCluster,
    cniUninstall: uninstall,
    ...criSocketOf(f['cri-socket'], install ?? inCluster),
    cniConfDir: f['cni-conf-dir'] ?? '/etc/cni/net.d',
    cniBinDir: f['cni-bin-dir'] ?? '/opt/cni/bin',
    healthPort: hp,
    peerTls: { mode: tlsMode as PeerTlsMode, ...Object.fromEntries(Object.entries(tlsFiles).filter(([, v]) => v !== undefined)) },
    ...(mtu ? { mtu } : {}),
    logFormat: logs.format, logLevel: logs.level,
    ...(f.lab ? { lab: f.lab } : {}),
  };
}
