// Which backend a store reference names: an absolute directory is the embedded file store;
// etcd://host:port[,host:port...] is an etcd cluster (plain HTTP, v3 JSON gateway).
import { EtcdStore } from './etcd-store';
import { FileStore } from './file-store';
import { StoreError, type Store } from './store';

export function openStore(ref: string): Store {
  if (ref.startsWith('/')) return new FileStore(ref);
  if (ref.startsWith('etcd://')) {
    const hosts = ref.slice('etcd://'.length).split(',').filter(Boolean);
    if (hosts.length === 0 || hosts.some((h) => !/^[^/\s]+:\d+$/.test(h))) {
      throw new StoreError('Invalid', `store "${ref}": expected etcd://host:port[,host:port...]`);
    }
    return new EtcdStore(hosts.map((h) => `http://${h}`));
  }
  throw new StoreError('Invalid', `store "${ref}": expected an absolute directory or etcd://host:port`);
}
