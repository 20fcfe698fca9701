// An API-server double with meshnet's CRDs (deploy/base/crds.yaml) applied and a kubeconfig on
// disk, for tests of the Kubernetes path. Everything lives in a temp directory removed by stop().
// The double runs in the test's own process: anything that talks to it (kubectl, a daemon, a
// plugin exec) must be started asynchronously; a spawnSync blocks the double and deadlocks.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ADMIN_TOKEN, ApiServerDouble, type DoubleOptions, type PolicyRule } from '../apiserver/server';

export interface TestKube {
  double: ApiServerDouble;
  dir: string;
  /** Path of an admin kubeconfig. */
  kubeconfig: string;
  /** `kubernetes:<kubeconfig>` */
  storeRef: string;
  /** Writes a kubeconfig for another token; returns its path. */
  kubeconfigFor(token: string, server?: string): string;
  /** Creates every document of a YAML text (CRDs, namespaces, objects) as the admin. */
  seed(yamlText: string): void;
  namespace(name: string): void;
  stop(): Promise<void>;
}

/**
 * What meshnetd's service account may do, from deploy/base/rbac.yaml: the ClusterRole's rules
 * everywhere, the Role's in its namespace (`meshnet`, where kustomize puts it).
 */
export function meshnetRules(): PolicyRule[] {
  const docs = parseAllDocuments(readFileSync('deploy/base/rbac.yaml', 'utf8')).map((d) => d.toJS() as Record<string, unknown>);
  const role = docs.find((d) => d.kind === 'ClusterRole');
  if (!role) throw new Error('deploy/base/rbac.yaml has no ClusterRole');
  const nsRole = docs.find((d) => d.kind === 'Role');
  return [...role.rules as PolicyRule[], ...((nsRole?.rules ?? []) as PolicyRule[]).map((r) => ({ ...r, namespace: 'meshnet' }))];
}

export async function startKube(opts: DoubleOptions & { crds?: boolean } = {}): Promise<TestKube> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-double-'));
  const double = await ApiServerDouble.start({ bookmarkIntervalMs: 200, ...opts });
  let n = 0;
  const kubeconfigFor = (token: string, server?: string) => {
    const p = join(dir, n++ === 0 ? 'kubeconfig' : `kubeconfig-${token}-${n}`);
    writeFileSync(p, double.kubeconfig(token, server));
    return p;
  };
  const kubeconfig = kubeconfigFor(ADMIN_TOKEN);
  const seed = (text: string) => {
    for (const d of parseAllDocuments(text)) {
      const o = d.toJS() as Record<string, unknown> | null;
      if (o) double.seed(o);
    }
  };
  if (opts.crds !== false) seed(readFileSync('deploy/base/crds.yaml', 'utf8'));
  return {
    double, dir, kubeconfig, storeRef: `kubernetes:${kubeconfig}`, kubeconfigFor, seed,
    namespace: (name) => { double.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }); },
    stop: async () => {
      await double.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * What the API server has for a meshnetd running as a DaemonSet pod: namespace `meshnet`,
 * DaemonSet `meshnet/meshnet` and its pod `podName` (owned by it) on node `nodeName`.
 */
export function seedMeshnetDaemonSet(kube: TestKube, podName: string, nodeName: string): void {
  kube.seed(`apiVersion: v1
kind: Namespace
metadata: {name: meshnet}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: meshnet, namespace: meshnet, uid: ds-uid-1}
spec: {selector: {matchLabels: {name: meshnet}}, template: {metadata: {labels: {name: meshnet}}, spec: {containers: [{name: meshnet, image: meshnet-ts:dev}]}}}
---
apiVersion: v1
kind: Pod
metadata: {name: ${podName}, namespace: meshnet, ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: meshnet, uid: ds-uid-1, controller: true}]}
spec: {nodeName: ${nodeName}, containers: [{name: meshnet, image: meshnet-ts:dev}]}
`);
}
