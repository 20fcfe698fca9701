// meshnet's own config keys. Upstream's conflist entry is just {"type":"meshnet","name":"meshnet"}
// and the plugin asks the node daemon for everything else: meshnetd serves the call with its own
// store and node IP. These optional keys are for the plugin running without a daemon (and must
// agree with the daemon's settings when one serves the call).
import { CniError, ErrorCode, isIP } from '../../cni';
import { isStoreRef, STORE_REF_FORMS } from '../../store';
import { VNI_SCHEMES, type VniScheme } from '../../plumbing/vxlan';
import { MAX_MTU, MIN_MTU } from '../../topology';

export interface MeshnetConf {
  /** Where the Topology objects are (a store reference); undefined: meshnetd's store. */
  store?: string;
  /** This node's IP as recorded in Topology status.src_ip; undefined = derive from the default route. */
  nodeIp?: string;
  /**
   * Turn tx checksum/segmentation offloads off on veth ends (upstream's behaviour, the default):
   * router images with userspace dataplanes need real checksums in every frame. Costs TCP
   * throughput (bench: ~0.25x of a plain veth); Linux-based routers can set it false.
   */
  disableTxOffloads: boolean;
  /** How VXLAN VNIs are numbered; undefined: meshnetd's (default kne). */
  vniScheme?: VniScheme;
  /** MTU of this pod's veth links and grpc-wires that set none (`mtu`); undefined: meshnetd's --mtu, else 1500. */
  mtu?: number;
}

export function parseMeshnetConf(raw: Record<string, unknown>): MeshnetConf {
  const store = raw.store;
  if (store !== undefined && (typeof store !== 'string' || !isStoreRef(store))) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid meshnet config',
      `"store" must be ${STORE_REF_FORMS}, got ${JSON.stringify(store)}`);
  }
  const dto = raw.disable_tx_offloads ?? true;
  if (typeof dto !== 'boolean') {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid meshnet config',
      `"disable_tx_offloads" must be true or false, got ${JSON.stringify(dto)}`);
  }
  const conf: MeshnetConf = { disableTxOffloads: dto };
  if (store !== undefined) conf.store = store;
  // The original meshnet's config: its private etcd, in its own layout (store/legacy-etcd.ts).
  if (raw.etcd_host !== undefined || raw.etcd_port !== undefined) {
    if (store !== undefined) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid meshnet config', '"etcd_host"/"etcd_port" (the original meshnet\'s etcd) and "store" name two stores: keep one');
    }
    const host = raw.etcd_host ?? 'localhost';
    const port = raw.etcd_port ?? '2379';
    if (typeof host !== 'string' || !/^[A-Za-z0-9.:[\]-]+$/.test(host)) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid meshnet config', `"etcd_host" must be a host name or IP address, got ${JSON.stringify(host)}`);
    }
    if (!/^\d{1,5}$/.test(String(port)) || Number(port) < 1 || Number(port) > 65535) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid meshnet config', `"etcd_port" must be a port number such as "2379", got ${JSON.stringify(port)}`);
    }
    conf.store = `etcd-original://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
  }
  if (raw.vni_scheme !== undefined) {
    if (!VNI_SCHEMES.includes(raw.vni_scheme as VniScheme)) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid meshnet config',
        `"vni_scheme" must be ${VNI_SCHEMES.join(' or ')}, got ${JSON.stringify(raw.vni_scheme)}`);
    }
    conf.vniScheme = raw.vni_scheme as VniScheme;
  }
  if (raw.mtu !== undefined) {
    if (typeof raw.mtu !== 'number' || !Number.isInteger(raw.mtu) || raw.mtu < MIN_MTU || raw.mtu > MAX_MTU) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid meshnet config', `"mtu" must be an integer from ${MIN_MTU} to ${MAX_MTU}, got ${JSON.stringify(raw.mtu)}`);
    }
    conf.mtu = raw.mtu;
  }
  if (raw.node_ip !== undefined) {
    if (typeof raw.node_ip !== 'string' || !isIP(raw.node_ip)) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid meshnet config',
        `"node_ip" must be an IP address such as 192.0.2.11, got ${JSON.stringify(raw.node_ip)}`);
    }
    conf.nodeIp = raw.node_ip;
  }
  return conf;
}
