// CNI plugin entry: everything lives in the skeleton and the plugin module.
import { runPlugin } from '../cni';
import { vethPlugin } from '../plugins/veth/plugin';

runPlugin(vethPlugin).then((code) => { process.exitCode = code; });
