// When meshnetd removes meshnet from its node's CNI config. Never on a plain stop: a DaemonSet
// rollout, a crash or a node drain stops meshnetd too, and a pod sandboxed while the config was
// gone would get eth0 only and never its links (the runtime would not call meshnet at all). While
// meshnetd is away the config stays and the shim answers ADD with CNI error 11, so kubelet retries.
// The config goes only when meshnet itself is being removed: on SIGTERM, meshnetd in a pod asks the
// API server for the DaemonSet that owns it (found at start-up from its pod's ownerReferences); a
// DaemonSet that is gone or being deleted, or credentials that were revoked with it, mean
// `kubectl delete` of meshnet, and meshnetd uninstalls. `meshnetd --cni-uninstall` does it by hand
// (docs/decisions.md, "The chained config outlives meshnetd").
import type { Logger } from '../log';
import type { KubeConnection } from '../store/kube/connection';

export interface OwnerDaemonSet {
  namespace: string;
  name: string;
}

/** How long the exit-time question may take: a rollout waits on it. */
const EXIT_CHECK_TIMEOUT_MS = 300;

/**
 * The DaemonSet that owns this pod (POD_NAMESPACE, POD_NAME, as the DaemonSet's downward API sets
 * them), or why it cannot be told (then meshnetd keeps the config whenever it stops).
 */
export async function ownerDaemonSet(conn: KubeConnection, env: Record<string, string | undefined>): Promise<OwnerDaemonSet | string> {
  const ns = env.POD_NAMESPACE;
  const pod = env.POD_NAME;
  if (!ns || !pod) return 'POD_NAMESPACE and POD_NAME are not set (not a DaemonSet pod)';
  let r;
  try {
    r = await conn.request('GET', `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(pod)}`, undefined, {}, 5000);
  } catch (e) {
    return `reading pod ${ns}/${pod}: ${(e as Error).message}`;
  }
  if (r.status !== 200) return `reading pod ${ns}/${pod}: HTTP ${r.status} (the meshnet Role grants get on pods)`;
  const refs = (JSON.parse(r.body) as { metadata?: { ownerReferences?: Array<{ kind?: string; name?: string }> } }).metadata?.ownerReferences ?? [];
  const ds = refs.find((o) => o.kind === 'DaemonSet' && o.name);
  return ds ? { namespace: ns, name: ds.name! } : `pod ${ns}/${pod} is not owned by a DaemonSet`;
}

/** Whether meshnet is being removed from the cluster, asked as meshnetd exits; undecided (network, 5xx, slow) counts as no. */
export async function meshnetBeingRemoved(conn: KubeConnection, ds: OwnerDaemonSet): Promise<{ removed: boolean; why: string }> {
  let r;
  try {
    r = await conn.request('GET', `/apis/apps/v1/namespaces/${encodeURIComponent(ds.namespace)}/daemonsets/${encodeURIComponent(ds.name)}`, undefined, {}, EXIT_CHECK_TIMEOUT_MS);
  } catch (e) {
    return { removed: false, why: `the API server did not say (${(e as Error).message}): keeping it, as for a restart` };
  }
  const what = `DaemonSet ${ds.namespace}/${ds.name}`;
  if (r.status === 404) return { removed: true, why: `${what} is gone` };
  if (r.status === 401 || r.status === 403) return { removed: true, why: `meshnet's credentials were revoked (HTTP ${r.status}: its ServiceAccount or RBAC went with it)` };
  if (r.status !== 200) return { removed: false, why: `${what}: HTTP ${r.status}: keeping it, as for a restart` };
  const deleting = (JSON.parse(r.body) as { metadata?: { deletionTimestamp?: string } }).metadata?.deletionTimestamp;
  return deleting ? { removed: true, why: `${what} is being deleted` } : { removed: false, why: `${what} stays (a rollout or a restart)` };
}

/**
 * The exit-time question, when this daemon is a DaemonSet pod that can ask it (its store is the
 * Kubernetes API): resolved at start-up to the DaemonSet owning it; undefined otherwise.
 */
export async function removalWatch(storeRef: string, log: Logger): Promise<{ check(): Promise<{ removed: boolean; why: string }> } | undefined> {
  if (!storeRef.startsWith('kubernetes')) return undefined;
  const { connect } = await import('../store/kube/connection');
  const conn = connect(storeRef);
  const owner = await ownerDaemonSet(conn, process.env);
  if (typeof owner === 'string') {
    log.info(`cni install: ${owner}; meshnet's CNI config will stay on exit (meshnetd --cni-uninstall removes it)`);
    conn.close();
    return undefined;
  }
  log.info(`cni install: owned by DaemonSet ${owner.namespace}/${owner.name}: meshnet leaves the node's CNI config only when that DaemonSet is deleted`);
  return {
    check: async () => {
      try {
        return await meshnetBeingRemoved(conn, owner);
      } finally {
        conn.close();
      }
    },
  };
}
