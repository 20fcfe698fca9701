export * from './store';
export { FileStore } from './file-store';
export { EtcdStore } from './etcd-store';
export { openStore } from './open';
