// Where the Kubernetes API is and how to authenticate to it. Configuration comes from
// @kubernetes/client-node's KubeConfig (every kubeconfig form: certificates, tokens, exec and
// auth-provider plugins, token files that rotate), the HTTP is ours: one keep-alive agent per
// connection, because client-node's API classes build a new agent (a new TCP + TLS handshake) for
// every call: 3.0 ms a GET against 0.4 ms kept alive (docs/decisions.md).
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { StoreError } from '../store';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConnection {
  /** https://host:port of the API server, for requests and for error messages. */
  server: string;
  /** Where the credentials came from, for error messages (a kubeconfig path or the service account). */
  source: string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>, timeoutMs?: number): Promise<KubeResponse>;
  /** A streaming GET (watch): the response is handed over as it arrives. */
  stream(path: string, signal: AbortSignal): Promise<IncomingMessage>;
  close(): void;
}

export interface KubeResponse {
  status: number;
  body: string;
}

const REQUEST_TIMEOUT_MS = 10_000;
/** Retries of a request the API server throttled (429, or 5xx with Retry-After), and their total wait. */
const MAX_THROTTLED_RETRIES = 4;
const MAX_THROTTLED_WAIT_S = 5;

/** Retry-After in seconds (the form API servers send); an HTTP date or garbage counts as absent. */
function retryAfterSeconds(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || !/^\d{1,4}$/.test(s.trim())) return undefined;
  return Number(s.trim());
}

function loadKubeConfig(ref: { kind: 'in-cluster'; serviceAccountDir: string } | { kind: 'file'; path: string }): KubeConfig {
  const kc = new KubeConfig();
  if (ref.kind === 'file') {
    let text: string;
    try {
      text = readFileSync(ref.path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new StoreError('Invalid', `kubeconfig ${ref.path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not readable (permission denied)' : (e as Error).message}`);
    }
    try {
      kc.loadFromFile(ref.path);
    } catch (e) {
      throw new StoreError('Invalid', `kubeconfig ${ref.path}: ${(e as Error).message}`);
    }
    if (!text.trim() || !kc.getCurrentCluster()) {
      throw new StoreError('Invalid', `kubeconfig ${ref.path}: no current context with a cluster (set current-context)`);
    }
    return kc;
  }
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) {
    throw new StoreError('Invalid', 'store "kubernetes" needs the in-cluster environment (KUBERNETES_SERVICE_HOST is not set): outside a pod use kubernetes:/path/to/kubeconfig');
  }
  const tokenFile = join(ref.serviceAccountDir, 'token');
  const caFile = join(ref.serviceAccountDir, 'ca.crt');
  for (const f of [tokenFile, caFile]) {
    if (!existsSync(f)) throw new StoreError('Invalid', `in-cluster credentials: ${f} is missing (is the service account token mounted? automountServiceAccountToken must not be false)`);
  }
  kc.loadFromClusterAndUser(
    { name: 'in-cluster', server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, caFile, skipTLSVerify: false },
    { name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile } } },
  );
  return kc;
}

/**
 * `kubernetes` (in-cluster: KUBERNETES_SERVICE_HOST/PORT and the mounted service account; its
 * directory can be moved with MESHNET_SERVICEACCOUNT_DIR) or `kubernetes:PATH` (a kubeconfig).
 */
export function connect(ref: string): KubeConnection {
  const inCluster = ref === 'kubernetes';
  const kubeconfigPath = ref.slice('kubernetes:'.length);
  const kc = loadKubeConfig(inCluster
    ? { kind: 'in-cluster', serviceAccountDir: process.env.MESHNET_SERVICEACCOUNT_DIR ?? SERVICE_ACCOUNT_DIR }
    : { kind: 'file', path: kubeconfigPath });
  const cluster = kc.getCurrentCluster()!;
  let base: URL;
  try {
    base = new URL(cluster.server);
  } catch {
    throw new StoreError('Invalid', `${inCluster ? 'in-cluster config' : `kubeconfig ${kubeconfigPath}`}: cluster server ${JSON.stringify(cluster.server)} is not a URL`);
  }
  const server = base.origin;
  // A server URL may carry a path (an API proxy such as Rancher's): API paths go under it.
  const prefix = base.pathname.replace(/\/+$/, '');
  const source = inCluster ? 'the in-cluster service account' : `kubeconfig ${kubeconfigPath}`;
  const secure = base.protocol === 'https:';
  let agent: HttpsAgent | HttpAgent | undefined;
  let agentKey = '';

  /** Credentials as of now (tokens rotate, exec plugins refresh): headers plus the TLS material. */
  const auth = async (): Promise<{ headers: OutgoingHttpHeaders; agent: HttpsAgent | HttpAgent }> => {
    const opts: { headers?: OutgoingHttpHeaders; ca?: unknown; cert?: unknown; key?: unknown; rejectUnauthorized?: boolean; auth?: string } = {};
    try {
      await kc.applyToHTTPSOptions(opts as never);
    } catch (e) {
      throw new StoreError('Unauthorized', `Kubernetes API ${server}: cannot get credentials from ${source}: ${(e as Error).message}`);
    }
    // A token file written with a trailing newline (by hand, or by a test) is still a token.
    const headers: OutgoingHttpHeaders = Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v.trim() : v]));
    if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    const tls = {
      ...(opts.ca ? { ca: opts.ca as string } : {}), ...(opts.cert ? { cert: opts.cert as string } : {}), ...(opts.key ? { key: opts.key as string } : {}),
      ...(cluster.skipTLSVerify ? { rejectUnauthorized: false } : {}), ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}),
    };
    const key = JSON.stringify(tls);
    if (!agent || key !== agentKey) {
      agent?.destroy();
      agent = secure ? new HttpsAgent({ keepAlive: true, maxSockets: 32, ...tls }) : new HttpAgent({ keepAlive: true, maxSockets: 32 });
      agentKey = key;
    }
    return { headers, agent };
  };

  const send = async (method: string, path: string, headers: Record<string, string>, signal?: AbortSignal, timeoutMs?: number): Promise<{ req: ClientRequest; res: Promise<IncomingMessage> }> => {
    const a = await auth();
    const url = new URL(`${prefix}${path}`, base.origin);
    const req = (secure ? httpsRequest : httpRequest)(url, {
      method, agent: a.agent, headers: { accept: 'application/json', ...a.headers, ...headers },
      ...(signal ? { signal } : {}), ...(timeoutMs ? { timeout: timeoutMs } : {}),
    });
    const res = new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
      req.on('error', (e) => {
        const err = new StoreError('Unavailable', `Kubernetes API ${server}: ${(e as Error).message}`);
        // A kept-alive connection the server (or a load balancer) closed while idle: the request
        // never reached it, so it is safe to send again on a new one (Node's documented pattern).
        if (req.reusedSocket && ['ECONNRESET', 'EPIPE'].includes((e as NodeJS.ErrnoException).code ?? '')) (err as StoreError & { stale?: boolean }).stale = true;
        reject(err);
      });
    });
    return { req, res };
  };

  return {
    server,
    source,
    async request(method, path, body, headers = {}, timeoutMs = REQUEST_TIMEOUT_MS) {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const h: Record<string, string> = { ...headers };
      if (payload !== undefined) {
        h['content-type'] ??= 'application/json';
        h['content-length'] = String(Buffer.byteLength(payload));
      }
      let waited = 0;
      for (let throttled = 0; ; throttled++) {
        let r: IncomingMessage;
        for (let attempt = 1; ; attempt++) {
          const { req, res } = await send(method, path, h, undefined, timeoutMs);
          req.end(payload);
          try {
            r = await res;
            break;
          } catch (e) {
            if (!(e as { stale?: boolean }).stale || attempt >= 3) throw e;
          }
        }
        const text = await new Promise<string>((resolve, reject) => {
          let b = '';
          r.setEncoding('utf8');
          r.on('data', (c: string) => { b += c; });
          r.on('end', () => resolve(b));
          r.on('error', (e) => reject(new StoreError('Unavailable', `Kubernetes API ${server}: ${e.message}`)));
        });
        const status = r.statusCode ?? 0;
        // As client-go: a 429 or 5xx that says when to come back (Retry-After, seconds) is sent
        // again then, a few times and for a few seconds at most; the caller sees the last answer.
        const after = retryAfterSeconds(r.headers['retry-after']);
        if ((status === 429 || status >= 500) && after !== undefined && throttled < MAX_THROTTLED_RETRIES && waited + after <= MAX_THROTTLED_WAIT_S) {
          waited += after;
          await new Promise((resolveWait) => setTimeout(resolveWait, after * 1000));
          continue;
        }
        return { status, body: text };
      }
    },
    async stream(path, signal) {
      const { req, res } = await send('GET', path, {}, signal);
      req.end();
      return res;
    },
    close() {
      agent?.destroy();
    },
  };
}
