// CNI plugin entry (the standalone build the exec shim falls back to when meshnetd is not
// running): everything lives in the skeleton and the plugin module.
import { runPlugin } from '../cni';
import { grpcRemoteLinker } from '../plumbing/far-node-grpc';
import { createMeshnetPlugin } from '../plugins/meshnet/plugin';

const remote = grpcRemoteLinker();
runPlugin(createMeshnetPlugin({ remote })).then((code) => {
  remote.close();
  process.exitCode = code;
});
