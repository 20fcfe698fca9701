// The veth chained plugin: ADD/CHECK/DEL handed to the CNI skeleton.
import type { PluginFuncs } from '../../cni';
import { vethAdd } from './add';
import { vethCheck } from './check';
import { vethDel } from './del';

export const vethPlugin: PluginFuncs = {
  about: 'veth: chained CNI plugin giving macvlan pods a veth path to their host and to Services',
  add: vethAdd,
  check: vethCheck,
  del: vethDel,
};
