// What upstream meshnet's Go plugin does for a grpc-wire link, step by step, against our meshnetd
// (run in the node's netns; the veth is made by the test as the plugin makes it): Local calls over
// grpc-js with upstream's proto, and a frame sent to the wire's id. Prints one JSON object.
//   node --import tsx upstream-plugin-scenario.ts POD_NETNS HOST_INTF PEER_NODE_IP
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Rtnl } from '../../src/kernel';

type Obj = Record<string, unknown>;
/** A unary method of a grpc-js client made from a loaded proto (called with .call(client, ...)). */
type UnaryMethod = (req: unknown, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Obj) => void) => void;
const [podNetns, hostIntf, peerNode] = process.argv.slice(2) as [string, string, string];
const def = protoLoader.loadSync(resolve('proto/meshnet/v1beta1/meshnet.proto'), { keepCase: true, longs: String, defaults: true });
const api = (grpc.loadPackageDefinition(def) as unknown as { meshnet: { v1beta1: Record<'Local' | 'WireProtocol', grpc.ServiceClientConstructor> } }).meshnet.v1beta1;
const local = new api.Local('127.0.0.1:51111', grpc.credentials.createInsecure()) as grpc.Client & Record<string, UnaryMethod>;
const wire = new api.WireProtocol('127.0.0.1:51111', grpc.credentials.createInsecure()) as grpc.Client & Record<string, UnaryMethod>;
const call = (c: Record<string, UnaryMethod>, m: string, req: Obj) => new Promise<Obj>((res) =>
  c[m]!.call(c, req, { deadline: Date.now() + 5000 }, (e: grpc.ServiceError | null, r: Obj) => res(e ? { error: `${grpc.status[e.code]} ${e.details}` } : r)));

async function main(): Promise<void> {
  const rt = Rtnl.open();
  const index = rt.link(hostIntf)!.index;
  rt.close();
  const def0 = { local_pod_net_ns: podNetns, link_uid: 9, topo_ns: 'default' };
  const out: Obj = { index };
  out.existsBefore = await call(local, 'GRPCWireExists', def0);
  out.badAdd = await call(local, 'AddGRPCWireLocal', { ...def0, wire_if_id_on_peer_node: 555, peer_node_ip: peerNode, wire_if_name_on_local_node: 'nosuchif', local_pod_name: 'r1', intf_name_in_pod: 'eth1' });
  out.add = await call(local, 'AddGRPCWireLocal', { ...def0, wire_if_id_on_peer_node: 555, peer_node_ip: peerNode, wire_if_name_on_local_node: hostIntf, local_pod_name: 'r1', intf_name_in_pod: 'eth1', local_pod_ip: '10.77.0.1/24' });
  out.exists = await call(local, 'GRPCWireExists', def0);
  // The peer delivers a frame to this node's end: addressed by the host end's ifindex, as the plugin told it.
  const frame = Buffer.alloc(60);
  Buffer.from('ffffffffffff', 'hex').copy(frame, 0);
  Buffer.from('020000000001', 'hex').copy(frame, 6);
  frame.writeUInt16BE(0x88b5, 12); // local experimental ethertype
  out.deliver = await call(wire, 'SendToOnce', { remot_intf_id: index, frame });
  await new Promise((r) => setTimeout(r, 300));
  console.log(JSON.stringify(out));
  local.close();
  wire.close();
}

main().catch((e) => { console.log(JSON.stringify({ error: (e as Error).message })); });
