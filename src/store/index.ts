export * from './store';
export { FileStore } from './file-store';
export { EtcdStore } from './etcd-store';
export { LegacyEtcdStore } from './legacy-etcd';
export { openStore, isStoreRef, DEFAULT_STORE_DIR, STORE_REF_FORMS } from './open';
export { resourceInfo, type ResourceInfo } from './resources';
