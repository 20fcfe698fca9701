// Which backend a store reference names: an absolute directory is the embedded file store;
// etcd://host:port[,host:port...] an etcd cluster (plain HTTP, v3 JSON gateway); `kubernetes`
// the API server of the cluster we run in (service account), `kubernetes:PATH` the API server a
// kubeconfig names. The Kubernetes backend is loaded only when asked for: it brings
// @kubernetes/client-node, which the standalone plugin should not pay for on every exec.
import { EtcdStore } from './etcd-store';
import { FileStore } from './file-store';
import { StoreError, type Store } from './store';

export const DEFAULT_STORE_DIR = '/var/lib/meshnet/store';
export const STORE_REF_FORMS = 'an absolute directory, etcd://host:port[,host:port...], kubernetes or kubernetes:/path/to/kubeconfig';

const ETCD = /^etcd:\/\/[^/\s]+:\d+(,[^/\s]+:\d+)*$/;

/** True when `ref` has the shape of a store reference (whether it works is found out on use). */
export function isStoreRef(ref: string): boolean {
  return ref.startsWith('/') || ETCD.test(ref) || ref === 'kubernetes' || /^kubernetes:\/\S+$/.test(ref);
}

export async function openStore(ref: string): Promise<Store> {
  if (ref.startsWith('/')) return new FileStore(ref);
  if (ref.startsWith('etcd://')) {
    const hosts = ref.slice('etcd://'.length).split(',').filter(Boolean);
    if (hosts.length === 0 || hosts.some((h) => !/^[^/\s]+:\d+$/.test(h))) {
      throw new StoreError('Invalid', `store "${ref}": expected etcd://host:port[,host:port...]`);
    }
    return new EtcdStore(hosts.map((h) => `http://${h}`));
  }
  if (ref === 'kubernetes' || ref.startsWith('kubernetes:')) {
    if (ref !== 'kubernetes' && !/^kubernetes:\/\S+$/.test(ref)) {
      throw new StoreError('Invalid', `store "${ref}": expected kubernetes (in-cluster) or kubernetes:/absolute/path/to/kubeconfig`);
    }
    const { KubeStore } = await import('./kube/kube-store');
    return new KubeStore(ref);
  }
  throw new StoreError('Invalid', `store "${ref}": expected ${STORE_REF_FORMS}`);
}
