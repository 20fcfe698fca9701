// Run inside a node's netns by test/e2e/wire-interop.test.ts: a grpc-js WireProtocol server that,
// like upstream meshnet, serves only SendToOnce, and our dataplane with one wire end towards it.
// The pod's traffic must reach the server as SendToOnce calls. Prints what the server received.
//   node --import tsx unary-peer-scenario.ts POD_NETNS_PATH
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { WireDataplane } from '../../src/wire/dataplane';
import { memoryLogger } from '../../src/log';

async function main(): Promise<void> {
  const podNetns = process.argv[2]!;
  const def = protoLoader.loadSync(resolve('proto/meshnet/v1beta1/meshnet.proto'), { keepCase: true, longs: String, defaults: true });
  const { WireProtocol } = (grpc.loadPackageDefinition(def) as unknown as { meshnet: { v1beta1: Record<'WireProtocol', grpc.ServiceClientConstructor> } }).meshnet.v1beta1;
  const got: { id: string; bytes: number }[] = [];
  const server = new grpc.Server();
  server.addService(WireProtocol.service, {
    SendToOnce: (call: grpc.ServerUnaryCall<{ remot_intf_id: string; frame: Buffer }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      got.push({ id: call.request.remot_intf_id, bytes: call.request.frame.length });
      cb(null, { response: true });
    },
  });
  const port = await new Promise<number>((r, j) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  const logs: string[] = [];
  const dataplane = new WireDataplane({ grpcPort: port, log: memoryLogger(logs) });
  dataplane.addEnd({ id: 1n, peerNode: '127.0.0.1', peerId: 777n, podNetns, podIntf: 'eth1', podIp: '10.77.0.1/24' });
  // The pod speaks on its wire end: ARP requests for a neighbour that only the wire can reach.
  await new Promise<void>((r) => spawn('nsenter', [`--net=${podNetns}`, '--', 'ping', '-c', '3', '-i', '0.3', '-W', '1', '10.77.0.2'], { stdio: 'ignore' }).on('close', () => r()));
  for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  console.log(JSON.stringify({ got, logs }));
  dataplane.close();
  server.forceShutdown();
}

main().catch((e) => {
  console.log(JSON.stringify({ error: (e as Error).message }));
  process.exit(1);
});
