// The subset of a kubeconfig the plugin needs: the current context's server, CA and credentials.
// Accepts JSON (what our installer writes: JSON is YAML) and YAML (what kubectl/others write);
// YAML is parsed only when the file is not JSON, so the common path loads no YAML parser.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { MeshnetError } from '../../errors';

export interface KubeConfig {
  server: string;
  /** PEM; absent: the system's CAs. */
  ca?: string;
  insecureSkipTlsVerify: boolean;
  token?: string;
  clientCert?: string;
  clientKey?: string;
}

export class KubeConfigError extends MeshnetError {
  readonly code = 'InvalidKubeconfig';
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function named(list: unknown, name: string | undefined, what: string, file: string): Obj {
  if (!Array.isArray(list) || list.length === 0) throw new KubeConfigError(`${file}: no ${what}s`);
  const items = list.filter(isObj);
  const item = name === undefined ? items[0] : items.find((x) => x['name'] === name);
  if (item === undefined) throw new KubeConfigError(`${file}: ${what} ${JSON.stringify(name)} not found`);
  const inner = item[what];
  if (!isObj(inner)) throw new KubeConfigError(`${file}: ${what} ${JSON.stringify(item['name'])} has no "${what}" object`);
  return inner;
}

function str(o: Obj, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Inline data wins over a file path; relative paths are relative to the kubeconfig's directory. */
function dataOrFile(o: Obj, dataKey: string, fileKey: string, base: string): string | undefined {
  const data = str(o, dataKey);
  if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8');
  const f = str(o, fileKey);
  if (f === undefined) return undefined;
  return readFileSync(isAbsolute(f) ? f : join(base, f), 'utf8');
}

export async function loadKubeConfig(file: string): Promise<KubeConfig> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new KubeConfigError(`cannot read kubeconfig ${file}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    try {
      const yaml = await import('yaml');
      doc = yaml.parse(text);
    } catch (e) {
      throw new KubeConfigError(`kubeconfig ${file} is neither JSON nor YAML: ${(e as Error).message}`);
    }
  }
  if (!isObj(doc)) throw new KubeConfigError(`kubeconfig ${file} is not an object`);
  const current = str(doc, 'current-context');
  let clusterName: string | undefined;
  let userName: string | undefined;
  if (current !== undefined) {
    const ctx = named(doc['contexts'], current, 'context', file);
    clusterName = str(ctx, 'cluster');
    userName = str(ctx, 'user');
  }
  const cluster = named(doc['clusters'], clusterName, 'cluster', file);
  const server = str(cluster, 'server');
  if (server === undefined) throw new KubeConfigError(`${file}: cluster has no server`);
  const base = dirname(file);
  const out: KubeConfig = { server: server.replace(/\/+$/, ''), insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true };
  try {
    const ca = dataOrFile(cluster, 'certificate-authority-data', 'certificate-authority', base);
    if (ca !== undefined) out.ca = ca;
    const users = doc['users'];
    if (Array.isArray(users) && users.length > 0) {
      const user = named(users, userName, 'user', file);
      const token = str(user, 'token') ?? (str(user, 'tokenFile') !== undefined ? readFileSync(str(user, 'tokenFile')!, 'utf8').trim() : undefined);
      if (token !== undefined) out.token = token;
      const cert = dataOrFile(user, 'client-certificate-data', 'client-certificate', base);
      const key = dataOrFile(user, 'client-key-data', 'client-key', base);
      if (cert !== undefined) out.clientCert = cert;
      if (key !== undefined) out.clientKey = key;
    }
  } catch (e) {
    if (e instanceof KubeConfigError) throw e;
    throw new KubeConfigError(`kubeconfig ${file}: ${(e as Error).message}`);
  }
  return out;
}
