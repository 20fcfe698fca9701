// CNI plugin entry: everything lives in the skeleton and the plugin module.
import { runPlugin } from '../cni';
import { meshnetPlugin } from '../plugins/meshnet/plugin';

runPlugin(meshnetPlugin).then((code) => { process.exitCode = code; });
