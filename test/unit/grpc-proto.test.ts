// proto/meshnet/v1beta1/meshnet.proto against the facts of upstream meshnet's API
// (its meshnet.proto: services, methods, messages and field numbers), and the committed generated code against the
// .proto (a stale src/grpc/gen fails here; regenerate with scripts/gen-proto.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { ScalarType, type DescField } from '@bufbuild/protobuf';
import { pb } from '../../src/grpc/index';

const PROTO = join(import.meta.dirname, '../../proto/meshnet/v1beta1/meshnet.proto');

// name=number:type, as the reference lists them ("repeated X" for lists; "stream" for client streams).
const MESSAGES: Record<string, string> = {
  Pod: 'name=1:string src_ip=2:string net_ns=3:string kube_ns=4:string links=5:repeated Link node_ip=6:string node_intf=7:string container_id=8:string',
  Link: 'peer_pod=1:string local_intf=2:string peer_intf=3:string local_ip=4:string peer_ip=5:string uid=6:int64',
  PodQuery: 'name=1:string kube_ns=2:string',
  SkipQuery: 'pod=1:string peer=2:string kube_ns=3:string link_id=4:int64',
  BoolResponse: 'response=1:bool',
  RemotePod: 'net_ns=1:string intf_name=2:string intf_ip=3:string peer_vtep=4:string kube_ns=5:string vni=6:int64 node_intf=7:string',
  WireDef: 'wire_if_id_on_peer_node=1:int64 peer_node_ip=2:string intf_name_in_pod=3:string local_pod_net_ns=4:string link_uid=5:int64 local_pod_name=6:string wire_if_name_on_local_node=7:string topo_ns=8:string local_pod_ip=9:string',
  WireCreateResponse: 'response=1:bool peer_intf_id=2:int64',
  WireDownResponse: 'response=1:bool',
  Packet: 'remot_intf_id=1:int64 frame=2:bytes',
  GenerateNodeInterfaceNameRequest: 'pod_intf_name=1:string pod_name=2:string',
  GenerateNodeInterfaceNameResponse: 'ok=1:bool node_intf_name=2:string',
  WireDefBatch: 'items=1:repeated WireDef',
  WireCreateResponseBatch: 'items=1:repeated WireCreateResponse',
};
const SERVICES: Record<string, string> = {
  Local: 'Get(PodQuery)->Pod SetAlive(Pod)->BoolResponse SkipReverse(SkipQuery)->BoolResponse Skip(SkipQuery)->BoolResponse IsSkipped(SkipQuery)->BoolResponse GRPCWireExists(WireDef)->WireCreateResponse AddGRPCWireLocal(WireDef)->BoolResponse RemGRPCWire(WireDef)->BoolResponse GenerateNodeInterfaceName(GenerateNodeInterfaceNameRequest)->GenerateNodeInterfaceNameResponse',
  Remote: 'Update(RemotePod)->BoolResponse AddGRPCWireRemote(WireDef)->WireCreateResponse GRPCWireDownRemote(WireDef)->WireDownResponse AddGRPCWiresRemoteBatch(WireDefBatch)->WireCreateResponseBatch',
  WireProtocol: 'SendToOnce(Packet)->BoolResponse SendToStream(stream Packet)->BoolResponse',
};

// One entry per field or method: split before each `name=` / `Name(`.
const sorted = (s: string) => s.split(/ (?=\w+[=(])/).sort();

// The .proto as another implementation (protobufjs, under grpc-js) reads it.
const loaded = protoLoader.loadSync(PROTO, { keepCase: true });
interface LoadedField { name: string; number: number; type: string; typeName: string; label: string }
interface LoadedMethod { originalName?: string; path: string; requestStream: boolean; responseStream: boolean; requestType: { type: { name: string } }; responseType: { type: { name: string } } }
const TYPE_NAMES: Record<string, string> = { TYPE_STRING: 'string', TYPE_INT64: 'int64', TYPE_BOOL: 'bool', TYPE_BYTES: 'bytes' };

function loadedMessage(name: string): string {
  const m = loaded[`meshnet.v1beta1.${name}`] as { type?: { field: LoadedField[] } } | undefined;
  assert.ok(m?.type, `message ${name} missing from the .proto`);
  return m.type.field.map((f) => {
    const t = f.type === 'TYPE_MESSAGE' ? f.typeName.replace(/^.*\./, '') : TYPE_NAMES[f.type] ?? f.type;
    return `${f.name}=${f.number}:${f.label === 'LABEL_REPEATED' ? 'repeated ' : ''}${t}`;
  }).join(' ');
}
function loadedService(name: string): string {
  const s = loaded[`meshnet.v1beta1.${name}`] as Record<string, LoadedMethod> | undefined;
  assert.ok(s, `service ${name} missing from the .proto`);
  return Object.values(s).map((m) => {
    assert.equal(m.responseStream, false);
    return `${m.path.split('/').pop()}(${m.requestStream ? 'stream ' : ''}${m.requestType.type.name})->${m.responseType.type.name}`;
  }).join(' ');
}

test('the .proto has package meshnet.v1beta1 with exactly the reference messages', () => {
  const names = Object.keys(loaded).filter((k) => k.startsWith('meshnet.v1beta1.') && 'type' in (loaded[k] as object)).map((k) => k.slice(16));
  assert.deepEqual(names.sort(), Object.keys(MESSAGES).sort());
  for (const [name, fields] of Object.entries(MESSAGES)) assert.deepEqual(sorted(loadedMessage(name)), sorted(fields), name);
});

test('the .proto has the three services with the reference methods and paths', () => {
  for (const [name, methods] of Object.entries(SERVICES)) assert.deepEqual(sorted(loadedService(name)), sorted(methods), name);
  const update = (loaded['meshnet.v1beta1.Remote'] as Record<string, LoadedMethod>)['Update'];
  assert.equal(update?.path, '/meshnet.v1beta1.Remote/Update');
});

function genField(f: DescField): string {
  const scalarName = (s: ScalarType) => ({ [ScalarType.STRING]: 'string', [ScalarType.INT64]: 'int64', [ScalarType.BOOL]: 'bool', [ScalarType.BYTES]: 'bytes' } as Record<number, string>)[s] ?? `scalar${s}`;
  let t: string;
  if (f.fieldKind === 'scalar') t = scalarName(f.scalar);
  else if (f.fieldKind === 'message') t = f.message.name;
  else if (f.fieldKind === 'list') t = `repeated ${f.listKind === 'message' ? f.message.name : f.listKind === 'scalar' ? scalarName(f.scalar) : '?'}`;
  else t = f.fieldKind;
  return `${f.name}=${f.number}:${t}`;
}

test('the committed generated code matches the .proto (regenerate with scripts/gen-proto.sh)', () => {
  const file = pb.file_meshnet_v1beta1_meshnet;
  assert.equal(file.proto.package, 'meshnet.v1beta1');
  assert.equal(file.proto.options?.goPackage, 'github.com/networkop/meshnet-cni/daemon/proto/meshnet/v1beta1');
  assert.deepEqual(file.messages.map((m) => m.name).sort(), Object.keys(MESSAGES).sort());
  for (const m of file.messages) assert.deepEqual(sorted(m.fields.map(genField).join(' ')), sorted(loadedMessage(m.name)), m.name);
  assert.deepEqual(file.services.map((s) => s.name).sort(), Object.keys(SERVICES).sort());
  for (const s of file.services) {
    const methods = s.methods.map((m) => `${m.name}(${m.methodKind === 'client_streaming' ? 'stream ' : ''}${m.input.name})->${m.output.name}`);
    assert.deepEqual(methods.sort(), sorted(loadedService(s.name)), s.name);
    assert.equal(methods.length, sorted(SERVICES[s.name]!).length);
  }
});

test('field casing in TypeScript: lowerCamelCase of the proto names, remot_intf_id kept as remotIntfId', () => {
  assert.deepEqual(pb.PacketSchema.fields.map((f) => f.localName), ['remotIntfId', 'frame']);
  assert.deepEqual(pb.WireDefSchema.fields.map((f) => f.localName), [
    'wireIfIdOnPeerNode', 'peerNodeIp', 'intfNameInPod', 'localPodNetNs', 'linkUid', 'localPodName',
    'wireIfNameOnLocalNode', 'topoNs', 'localPodIp',
  ]);
});
