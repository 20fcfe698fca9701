// A peer node as upstream meshnet's daemon is to our dataplane: a WireProtocol server that serves
// only SendToOnce. Run in the peer's netns: `node --import tsx sendtoonce-peer.ts HOST PORT`;
// prints "ready", then one JSON line per frame received ({id, bytes}); SIGTERM stops it.
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const [host, port] = process.argv.slice(2);
const def = protoLoader.loadSync(resolve('proto/meshnet/v1beta1/meshnet.proto'), { keepCase: true, longs: String, defaults: true });
const { WireProtocol } = (grpc.loadPackageDefinition(def) as unknown as { meshnet: { v1beta1: Record<'WireProtocol', grpc.ServiceClientConstructor> } }).meshnet.v1beta1;
const server = new grpc.Server();
server.addService(WireProtocol.service, {
  SendToOnce: (call: grpc.ServerUnaryCall<{ remot_intf_id: string; frame: Buffer }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    process.stdout.write(`${JSON.stringify({ id: call.request.remot_intf_id, bytes: call.request.frame.length })}\n`);
    cb(null, { response: true });
  },
});
server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (e) => {
  if (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => { server.forceShutdown(); process.exit(0); });
