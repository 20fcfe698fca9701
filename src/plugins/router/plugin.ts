// The router chained plugin: ADD/CHECK/DEL handed to the CNI skeleton.
import type { PluginFuncs } from '../../cni';
import { routerAdd } from './add';
import { routerCheck } from './check';
import { routerDel } from './del';

export const routerPlugin: PluginFuncs = {
  about: 'router: chained CNI plugin routing a multi-NIC pod\'s cluster traffic through its overlay interface',
  add: routerAdd,
  check: routerCheck,
  del: routerDel,
};
