// Which backend a store reference names: an absolute directory is the embedded file store;
// etcd://host:port[,host:port...] an etcd cluster (plain HTTP, v3 JSON gateway), etcds:// the same
// over TLS, both with optional settings as a query (?cacert=F&cert=F&key=F&user=U&password-file=F,
// named as etcdctl's flags; files are read when the store is opened); `kubernetes`
// the API server of the cluster we run in (service account), `kubernetes:PATH` the API server a
// kubeconfig names. The Kubernetes backend is loaded only when asked for: it brings
// @kubernetes/client-node, which the standalone plugin should not pay for on every exec.
// etcd-original://host:port is an etcd cluster in the original meshnet's layout (legacy-etcd.ts).
import { readFileSync } from 'node:fs';
import { EtcdStore, type EtcdOptions } from './etcd-store';
import { FileStore } from './file-store';
import { LegacyEtcdStore } from './legacy-etcd';
import { StoreError, type Store } from './store';

export const DEFAULT_STORE_DIR = '/var/lib/meshnet/store';
export const STORE_REF_FORMS = 'an absolute directory, etcd://host:port[,host:port...] (etcds:// for TLS, ?cacert=&cert=&key=&user=&password-file=), etcd-original://host:port (the original meshnet\'s /<pod>/links layout), kubernetes or kubernetes:/path/to/kubeconfig';

const ETCD = /^etcds?:\/\/[^/\s?,]+:\d+(,[^/\s?,]+:\d+)*(\?\S*)?$/;
const ETCD_ORIGINAL = /^etcd-original:\/\/[^/\s?,]+:\d+(,[^/\s?,]+:\d+)*$/;
const ETCD_SETTINGS = ['cacert', 'cert', 'key', 'user', 'password-file'];

/** The endpoints and options an etcd:// or etcds:// reference names; errors name the setting. */
export function etcdSettings(ref: string): { endpoints: string[]; options: EtcdOptions } {
  const tls = ref.startsWith('etcds://');
  const rest = ref.slice(tls ? 'etcds://'.length : 'etcd://'.length);
  const q = rest.indexOf('?');
  const hosts = (q < 0 ? rest : rest.slice(0, q)).split(',').filter(Boolean);
  if (hosts.length === 0 || hosts.some((h) => !/^[^/\s?,]+:\d+$/.test(h))) {
    throw new StoreError('Invalid', `store "${ref}": expected etcd://host:port[,host:port...] or etcds://...`);
  }
  const params = new URLSearchParams(q < 0 ? '' : rest.slice(q + 1));
  const where = `store ${ref.slice(0, tls ? 8 : 7)}${hosts.join(',')}`;
  for (const k of params.keys()) {
    if (!ETCD_SETTINGS.includes(k)) throw new StoreError('Invalid', `${where}: unknown setting "${k}" (known: ${ETCD_SETTINGS.join(', ')})`);
    if (params.getAll(k).length > 1) throw new StoreError('Invalid', `${where}: setting "${k}" given twice`);
  }
  const file = (k: string): Buffer | undefined => {
    const path = params.get(k);
    if (path === null) return undefined;
    if (!path.startsWith('/')) throw new StoreError('Invalid', `${where}: ${k}: "${path}" is not an absolute path`);
    try {
      return readFileSync(path);
    } catch (e) {
      throw new StoreError('Invalid', `${where}: ${k}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  if (!tls) {
    for (const k of ['cacert', 'cert', 'key']) if (params.has(k)) throw new StoreError('Invalid', `${where}: ${k} needs TLS: use etcds://`);
  }
  if (params.has('cert') !== params.has('key')) throw new StoreError('Invalid', `${where}: cert and key go together (${params.has('cert') ? 'key' : 'cert'} is missing)`);
  if (params.has('user') !== params.has('password-file')) throw new StoreError('Invalid', `${where}: user and password-file go together (${params.has('user') ? 'password-file' : 'user'} is missing)`);
  const options: EtcdOptions = {};
  if (tls) {
    const [ca, cert, key] = [file('cacert'), file('cert'), file('key')];
    options.tls = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }
  const user = params.get('user');
  if (user !== null) {
    if (!user) throw new StoreError('Invalid', `${where}: user is empty`);
    // A password file ends with a newline more often than not (echo, a Secret written by hand).
    const password = file('password-file')!.toString('utf8').replace(/\r?\n$/, '');
    options.auth = { user, password };
  }
  return { endpoints: hosts.map((h) => `${tls ? 'https' : 'http'}://${h}`), options };
}

/** True when `ref` has the shape of a store reference (whether it works is found out on use). */
export function isStoreRef(ref: string): boolean {
  return ref.startsWith('/') || ETCD.test(ref) || ETCD_ORIGINAL.test(ref) || ref === 'kubernetes' || /^kubernetes:\/\S+$/.test(ref);
}

export async function openStore(ref: string): Promise<Store> {
  if (ref.startsWith('/')) return new FileStore(ref);
  if (ref.startsWith('etcd://') || ref.startsWith('etcds://')) {
    const { endpoints, options } = etcdSettings(ref);
    return new EtcdStore(endpoints, options);
  }
  if (ref.startsWith('etcd-original://')) {
    if (!ETCD_ORIGINAL.test(ref)) throw new StoreError('Invalid', `store "${ref}": expected etcd-original://host:port[,host:port...]`);
    return new LegacyEtcdStore(ref.slice('etcd-original://'.length).split(',').map((h) => `http://${h}`));
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
