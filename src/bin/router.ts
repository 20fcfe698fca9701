// CNI plugin entry: everything lives in the skeleton and the plugin module.
import { runPlugin } from '../cni';
import { routerPlugin } from '../plugins/router/plugin';

runPlugin(routerPlugin).then((code) => { process.exitCode = code; });
