// meshnetd: the node daemon. Serves the meshnet plugin's CNI calls on its local socket (the exec
// shim forwards them, so a call costs the plumbing, not a Node start-up) and meshnet's gRPC API
// (meshnet.v1beta1, port 51111): Remote.Update makes this node's end of a cross-node VXLAN link,
// Local answers upstream's plugin-side calls from the store. grpc-wire and reconciliation next.
import { listenAdmin } from './admin';
import { cniSocketPath, listenCniSocket } from './cni-socket';
import { PeerClients, grpcRemoteLinker } from './remote-linker';
import { hostname } from 'node:os';
import { daemonWireLinker, restoreWires, wireRemoteHandlers } from './wire-linker';
import { WireRecords } from '../wire/records';
import { WireDataplane } from '../wire/dataplane';
import { createMeshnetPlugin } from '../plugins/meshnet/plugin';
import { nodeIpFromDefaultRoute } from '../plugins/meshnet/node-ip';
import { RemoteEndError, applyRemoteEnd, removeRemoteEnd } from '../plugins/meshnet/remote-end';
import { isIP } from '../cni';
import { GrpcStatusError, MESHNET_GRPC_PORT, startGrpcServer } from '../grpc';
import { DEFAULT_STORE_DIR } from '../plugins/meshnet/config';
import { openStore, type Store } from '../store';
import { TopologyClient } from '../topology';
import { localHandlers } from './local-api';

const USAGE = `usage: meshnetd [--node-ip IP] [--grpc-port PORT] [--store REF] [--inter-node-link-type vxlan|grpc] [--node NAME] [--lab NAME]
  Serves the meshnet CNI plugin on /run/meshnet/meshnet-<netns inode>.sock for the network
  namespace it runs in (run it in the node's netns, as a hostNetwork DaemonSet does), and
  meshnet's gRPC API for peer daemons on PORT (default ${MESHNET_GRPC_PORT}).
  --node-ip  this node's IP (VXLAN endpoint); default: the source of the IPv4 default route
  --store    where Topology and GWireKObj objects are (gRPC Local service, wire records): a directory
             or etcd://host:port (default ${DEFAULT_STORE_DIR}; the CNI plugin uses its config's "store")
  --inter-node-link-type  how pods on different nodes are linked (env INTER_NODE_LINK_TYPE as
             upstream; default vxlan): a VXLAN, or a grpc-wire carried by the daemons over gRPC
  --node     this node's name (default NODE_NAME, else the host name): labels log lines and keys
             the node's GWireKObj wire records
  --lab      lets "meshnetctl lab down" find lab daemons`;

class ArgError extends Error {}

function parseArgs(argv: string[]): Record<string, string> {
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return { help: '1' };
    const key = a.slice(2);
    if (!['node', 'lab', 'node-ip', 'grpc-port', 'store', 'inter-node-link-type'].includes(key) || !a.startsWith('--') || argv[i + 1] === undefined) {
      throw new ArgError(`unknown or incomplete argument ${JSON.stringify(a)}`);
    }
    opts[key] = argv[++i]!;
  }
  return opts;
}

export async function main(argv: string[]): Promise<number> {
  let opts: Record<string, string>;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`meshnetd: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const tag = opts.node ? `[${opts.node}] ` : '';
  const log = (s: string) => process.stderr.write(`${new Date().toISOString()} ${tag}${s}\n`);
  const nodeIp = opts['node-ip'] ?? nodeIpFromDefaultRoute();
  if (!nodeIp || !isIP(nodeIp)) {
    process.stderr.write(`meshnetd: --node-ip ${nodeIp === undefined ? 'is needed (no default route to derive it from)' : `${JSON.stringify(nodeIp)} is not an IP address`}\n`);
    return 2;
  }
  const grpcPort = Number(opts['grpc-port'] ?? MESHNET_GRPC_PORT);
  if (!(Number.isInteger(grpcPort) && grpcPort > 0 && grpcPort < 65536)) {
    process.stderr.write(`meshnetd: --grpc-port ${JSON.stringify(opts['grpc-port'])} is not a port number\n`);
    return 2;
  }

  const linkType = (opts['inter-node-link-type'] ?? process.env.INTER_NODE_LINK_TYPE ?? 'vxlan').toLowerCase();
  if (linkType !== 'vxlan' && linkType !== 'grpc') {
    process.stderr.write(`meshnetd: --inter-node-link-type must be vxlan or grpc, got ${JSON.stringify(linkType)}\n`);
    return 2;
  }
  let store: Store;
  try {
    store = openStore(opts.store ?? DEFAULT_STORE_DIR);
  } catch (e) {
    process.stderr.write(`meshnetd: --store: ${(e as Error).message}\n`);
    return 2;
  }
  const peers = new PeerClients(grpcPort);
  const remote = grpcRemoteLinker({ peers });
  const dataplane = new WireDataplane({ grpcPort, log });
  // Upstream's daemons know their node by NODE_NAME; records are keyed by it.
  const nodeName = opts.node ?? process.env.NODE_NAME ?? hostname();
  const records = new WireRecords(store, nodeName);
  const wireRemote = wireRemoteHandlers(dataplane, records, nodeName, log);
  const grpc = await startGrpcServer({
    host: nodeIp.includes(':') ? '::' : '0.0.0.0',
    port: grpcPort,
    log,
    local: localHandlers(new TopologyClient(store)),
    // Frames of peer streams go straight to the dataplane (the raw receive path serves every
    // SendToStream); SendToOnce, upstream's one call per frame, through connect.
    wireFrames: (p) => dataplane.deliverOne(p),
    wire: { sendToOnce: (p) => { dataplane.deliverOne(p); return true; } },
    remote: {
      ...wireRemote,
      update: async (req) => {
        try {
          const outcome = applyRemoteEnd({
            netNs: req.netNs, intfName: req.intfName, intfIp: req.intfIp, peerVtep: req.peerVtep,
            // Beyond 2^53 a bigint VNI cannot be valid anyway; validation names the field.
            kubeNs: req.kubeNs, vni: Number(req.vni), nodeIntf: req.nodeIntf,
          }, nodeIp);
          log(`Remote.Update from ${req.peerVtep}: ${req.intfName} (VNI ${req.vni}) in ${req.netNs}: ${outcome}`);
          return true;
        } catch (e) {
          log(`Remote.Update from ${req.peerVtep} refused: ${(e as Error).message}`);
          // A peer's bad request is its error to fix, not ours: INVALID_ARGUMENT naming the field.
          if (e instanceof RemoteEndError) throw new GrpcStatusError('INVALID_ARGUMENT', e.message);
          throw e;
        }
      },
    },
    ext: {
      removeEnd: async (req) => {
        try {
          const removed = removeRemoteEnd({ netNs: req.netNs, intfName: req.intfName, vni: Number(req.vni), peerVtep: req.peerVtep });
          log(`RemoteExt.RemoveEnd from ${req.peerVtep}: ${req.intfName} (VNI ${req.vni}) in ${req.netNs}: ${removed ? 'removed' : 'nothing to remove'}`);
          return removed;
        } catch (e) {
          if (e instanceof RemoteEndError) throw new GrpcStatusError('INVALID_ARGUMENT', e.message);
          throw e;
        }
      },
    },
  });
  const path = cniSocketPath('meshnet');
  const cni = await listenCniSocket(path, createMeshnetPlugin({
    remote, interNodeLinkType: linkType, wires: daemonWireLinker(dataplane, peers, records, nodeName),
  }), log);
  try {
    await restoreWires(dataplane, records, log);
  } catch (e) {
    log(`wires: could not read GWireKObj records: ${(e as Error).message}`);
  }
  const admin = await listenAdmin(cniSocketPath('meshnetd-admin'), nodeName, dataplane);
  log(`meshnetd ${process.pid} node ${nodeIp}: CNI calls on ${path}, gRPC on port ${grpc.port}, inter-node links: ${linkType}, metrics on ${cniSocketPath('meshnetd-admin')}`);
  await new Promise<void>((resolveStop) => {
    const stop = (sig: string) => {
      log(`${sig}: shutting down`);
      resolveStop();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await cni.close();
  await admin.close();
  await grpc.close();
  log(`wire stats: ${JSON.stringify(dataplane.stats())}`);
  dataplane.close();
  remote.close();
  return 0;
}
