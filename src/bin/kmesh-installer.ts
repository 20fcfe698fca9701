// kmesh-installer entry: keeps kmesh-cni in the node's CNI config until SIGTERM/SIGINT.
import { main } from '../plugins/kmesh/installer/main';

main();
