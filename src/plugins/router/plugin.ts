// The router chained plugin: ADD/CHECK/DEL handed to the CNI skeleton.
import { CHAINED_VERSIONS, type PluginFuncs } from '../../cni';
import { routerAdd } from './add';
import { routerCheck } from './check';
import { routerDel } from './del';

export const routerPlugin: PluginFuncs = {
  about: 'router: chained CNI plugin routing a multi-NIC pod\'s cluster traffic through its overlay interface',
  // A chained plugin: it works on the previous plugin's result, which came with CNI 0.3.0.
  versions: CHAINED_VERSIONS,
  add: routerAdd,
  check: routerCheck,
  del: routerDel,
};
