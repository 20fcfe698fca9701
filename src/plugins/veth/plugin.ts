// The veth chained plugin: ADD/CHECK/DEL handed to the CNI skeleton.
import { CHAINED_VERSIONS, type PluginFuncs } from '../../cni';
import { vethAdd } from './add';
import { vethCheck } from './check';
import { vethDel } from './del';

export const vethPlugin: PluginFuncs = {
  about: 'veth: chained CNI plugin giving macvlan pods a veth path to their host and to Services',
  // A chained plugin: it works on the previous plugin's result, which came with CNI 0.3.0.
  versions: CHAINED_VERSIONS,
  add: vethAdd,
  check: vethCheck,
  del: vethDel,
};
