// A lab whose store is a Kubernetes API server (`lab up FILE --kubeconfig PATH`): what the lab sets
// up there before its pods come up (meshnet's CRDs and the topology namespaces, when missing) and
// takes away at `lab down` — exactly what it created, and nothing else.
import { lookup } from 'node:dns/promises';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { StoreError, openStore } from '../store';
import type { KubeConnection } from '../store/kube/connection';
import { GWIRE_RESOURCE } from '../wire/records';
import { TOPOLOGY_RESOURCE } from '../topology';
import type { ApiTarget } from './api-proxy';

export interface KubeLabState {
  /** The user's kubeconfig (absolute path): the lab's own API calls use it. */
  kubeconfig: string;
  /** The API server as the kubeconfig names it. */
  server: string;
  /** Where the node netns's proxy listens and forwards to: the server's address, resolved. */
  target: ApiTarget;
  /** The kubeconfig the node daemons use: the user's, or a copy naming the resolved address. */
  daemonKubeconfig: string;
  /** What the lab created on the API server, to delete at `lab down`. */
  created: { crds: string[]; namespaces: string[]; topologies: { namespace: string; name: string }[] };
}

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const SERVED_WAIT_MS = 15_000;

/** deploy/base/crds.yaml of this installation (next to dist/, or in the working tree). */
export function crdsFile(): string {
  const candidates = [
    process.argv[1] ? join(dirname(resolve(process.argv[1])), '..', 'deploy', 'base', 'crds.yaml') : '',
    resolve('deploy/base/crds.yaml'),
  ].filter(Boolean);
  const f = candidates.find((c) => existsSync(c));
  if (!f) throw new Error(`meshnet's CRDs (deploy/base/crds.yaml) not found (looked in ${candidates.join(', ')})`);
  return f;
}

async function call(conn: KubeConnection, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return conn.request(method, path, body);
}

function failed(conn: KubeConnection, what: string, r: { status: number; body: string }): Error {
  let msg = r.body.slice(0, 300);
  try { msg = (JSON.parse(r.body) as { message?: string }).message ?? msg; } catch { /* not a Status */ }
  return new Error(`Kubernetes API ${conn.server}: ${what}: ${r.status} ${msg}`);
}

/** The Kubernetes client code, loaded only for kube labs (it is most of meshnetctl's start-up otherwise). */
const kubeConnection = () => import('../store/kube/connection');

/** The daemons' kubeconfig: the user's when the server is an IP; else a copy naming the resolved IP (TLS still checks the host name). */
async function daemonKubeconfigFor(kubeconfig: string, host: string, target: ApiTarget, dir: string): Promise<string> {
  if (isIP(host)) return kubeconfig;
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const cluster = kc.getCurrentCluster()!;
  const server = `https://${isIP(target.ip) === 6 ? `[${target.ip}]` : target.ip}:${target.port}`;
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters: kc.getClusters().map((c) => (c.name === cluster.name ? { ...c, server, tlsServerName: cluster.tlsServerName ?? host } : c)),
    users: kc.getUsers(), contexts: kc.getContexts(), currentContext: kc.getCurrentContext(),
  });
  const path = join(dir, 'kubeconfig-nodes');
  writeFileSync(path, copy.exportConfig(), { mode: 0o600 });
  return path;
}

/**
 * Checks the API server answers with these credentials, installs meshnet's CRDs and creates the
 * namespaces the lab's Topologies live in when they are missing, recording what it created.
 */
export async function prepareKubeLab(kubeconfigArg: string, namespaces: string[], stateDir: string, record: (k: KubeLabState) => void): Promise<KubeLabState> {
  const kubeconfig = resolve(kubeconfigArg);
  const { connect } = await kubeConnection();
  const conn = connect(`kubernetes:${kubeconfig}`);
  try {
    const url = new URL(conn.server);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const ip = isIP(host) ? host : (await lookup(host)).address;
    const state: KubeLabState = {
      kubeconfig, server: conn.server, target: { ip, port }, daemonKubeconfig: '',
      created: { crds: [], namespaces: [], topologies: [] },
    };
    state.daemonKubeconfig = await daemonKubeconfigFor(kubeconfig, host, state.target, stateDir);
    record(state);
    const docs = parseAllDocuments(readFileSync(crdsFile(), 'utf8')).map((d) => d.toJS() as { metadata: { name: string } });
    for (const crd of docs) {
      const name = crd.metadata.name;
      const r = await call(conn, 'GET', `${CRD_PATH}/${name}`);
      if (r.status === 200) continue;
      if (r.status !== 404) throw failed(conn, `reading CustomResourceDefinition ${name}`, r);
      const c = await call(conn, 'POST', CRD_PATH, crd);
      if (c.status !== 201 && c.status !== 200) throw failed(conn, `installing CustomResourceDefinition ${name}`, c);
      state.created.crds.push(name);
      record(state);
    }
    // A new CRD takes a moment before its resources are served.
    const deadline = Date.now() + SERVED_WAIT_MS;
    for (;;) {
      const r = await call(conn, 'GET', '/apis/networkop.co.uk/v1beta1');
      const served = r.status === 200 ? (JSON.parse(r.body) as { resources?: { name: string }[] }).resources?.map((x) => x.name) ?? [] : [];
      if (served.includes('topologies') && served.includes('gwirekobjs')) break;
      if (Date.now() > deadline) throw new Error(`Kubernetes API ${conn.server} does not serve topologies and gwirekobjs in networkop.co.uk/v1beta1 ${SERVED_WAIT_MS / 1000} s after their CRDs were installed`);
      await new Promise((r2) => setTimeout(r2, 200));
    }
    for (const ns of [...new Set(namespaces)]) {
      const r = await call(conn, 'GET', `/api/v1/namespaces/${ns}`);
      if (r.status === 200) continue;
      if (r.status !== 404) throw failed(conn, `reading namespace ${ns}`, r);
      const c = await call(conn, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      if (c.status !== 201 && c.status !== 200) throw failed(conn, `creating namespace ${ns}`, c);
      state.created.namespaces.push(ns);
      record(state);
    }
    return state;
  } finally {
    conn.close();
  }
}

/**
 * Deletes what the lab created: its Topologies, the GWireKObj records of its nodes, then the
 * namespaces and CRDs it created (in that order). Returns the errors (the API may be gone).
 */
export async function cleanupKubeLab(k: KubeLabState, nodeNames: string[], namespaces: string[]): Promise<string[]> {
  const errors: string[] = [];
  const attempt = async (what: string, f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (e) {
      errors.push(`${what}: ${(e as Error).message}`);
    }
  };
  let store;
  try {
    store = await openStore(`kubernetes:${k.kubeconfig}`);
  } catch (e) {
    return [`opening ${k.kubeconfig}: ${(e as Error).message}`];
  }
  for (const t of k.created.topologies) await attempt(`deleting Topology ${t.namespace}/${t.name}`, () => store.delete(TOPOLOGY_RESOURCE, t.namespace, t.name));
  for (const ns of [...new Set(namespaces)]) {
    for (const node of nodeNames) {
      await attempt(`deleting GWireKObj ${ns}/${node}`, async () => {
        try {
          await store.delete(GWIRE_RESOURCE, ns, node);
        } catch (e) {
          // Without the CRD there is nothing to delete.
          if (!(e instanceof StoreError && e.code === 'Invalid')) throw e;
        }
      });
    }
  }
  const { connect } = await kubeConnection();
  const conn = connect(`kubernetes:${k.kubeconfig}`);
  try {
    for (const ns of k.created.namespaces) {
      await attempt(`deleting namespace ${ns}`, async () => {
        const r = await conn.request('DELETE', `/api/v1/namespaces/${ns}`);
        if (r.status >= 300 && r.status !== 404) throw failed(conn, `deleting namespace ${ns}`, r);
      });
    }
    for (const crd of k.created.crds) {
      await attempt(`deleting CustomResourceDefinition ${crd}`, async () => {
        // Deleting a CRD deletes every object of it: only when the lab's were the last ones.
        const plural = crd.split('.')[0]!;
        const left = await conn.request('GET', `/apis/networkop.co.uk/v1beta1/${plural}`);
        if (left.status === 200) {
          const items = (JSON.parse(left.body) as { items?: { metadata: { namespace: string; name: string } }[] }).items ?? [];
          if (items.length > 0) {
            throw new Error(`left in place: ${items.length} ${plural} the lab did not create still use it (${items.slice(0, 3).map((i) => `${i.metadata.namespace}/${i.metadata.name}`).join(', ')})`);
          }
        }
        const r = await conn.request('DELETE', `${CRD_PATH}/${crd}`);
        if (r.status >= 300 && r.status !== 404) throw failed(conn, `deleting CustomResourceDefinition ${crd}`, r);
      });
    }
  } finally {
    conn.close();
    (store as { close?: () => void }).close?.();
  }
  return errors;
}
