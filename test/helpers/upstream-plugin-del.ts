// The DEL half of upstream's Go plugin against our meshnetd: RemGRPCWire for the pod, then
// GRPCWireExists. Run in the node's netns; prints one JSON object.
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

type Obj = Record<string, unknown>;
/** A unary method of a grpc-js client made from a loaded proto (called with .call(client, ...)). */
type UnaryMethod = (req: unknown, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Obj) => void) => void;
const [podNetns] = process.argv.slice(2) as [string];
const def = protoLoader.loadSync(resolve('proto/meshnet/v1beta1/meshnet.proto'), { keepCase: true, longs: String, defaults: true });
const api = (grpc.loadPackageDefinition(def) as unknown as { meshnet: { v1beta1: Record<'Local', grpc.ServiceClientConstructor> } }).meshnet.v1beta1;
const local = new api.Local('127.0.0.1:51111', grpc.credentials.createInsecure()) as grpc.Client & Record<string, UnaryMethod>;
const call = (m: string, req: Obj) => new Promise<Obj>((res) =>
  local[m]!.call(local, req, { deadline: Date.now() + 5000 }, (e: grpc.ServiceError | null, r: Obj) => res(e ? { error: `${grpc.status[e.code]} ${e.details}` } : r)));

async function main(): Promise<void> {
  const out: Obj = {};
  out.rem = await call('RemGRPCWire', { topo_ns: 'default', local_pod_name: 'r1' });
  out.exists = await call('GRPCWireExists', { local_pod_net_ns: podNetns, link_uid: 9, topo_ns: 'default' });
  console.log(JSON.stringify(out));
  local.close();
}
main().catch((e) => { console.log(JSON.stringify({ error: (e as Error).message })); });
