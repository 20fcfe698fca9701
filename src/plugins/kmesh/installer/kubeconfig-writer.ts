// The kubeconfig kmesh-cni reads, made from the installer's service-account token and CA. Written
// as JSON (valid YAML, so kubectl reads it too), mode 0600: it holds a bearer token.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ServiceAccount {
  token: string;
  ca: string;
}

export function readServiceAccount(dir: string): ServiceAccount {
  return {
    token: readFileSync(join(dir, 'token'), 'utf8').trim(),
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
  };
}

/** https://host:port from KUBERNETES_SERVICE_HOST/PORT (IPv6 hosts bracketed). */
export function serverFromEnv(env: Record<string, string | undefined>): string {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'] ?? '443';
  if (host === undefined || host === '') throw new Error('KUBERNETES_SERVICE_HOST is not set: cannot tell the plugin where the API server is');
  const protocol = env['KUBERNETES_SERVICE_PROTOCOL'] ?? 'https';
  return `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function kubeconfigText(server: string, sa: ServiceAccount): string {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server, 'certificate-authority-data': Buffer.from(sa.ca).toString('base64') } }],
    users: [{ name: 'kmesh-cni', user: { token: sa.token } }],
    contexts: [{ name: 'kmesh-cni-context', context: { cluster: 'local', user: 'kmesh-cni' } }],
    'current-context': 'kmesh-cni-context',
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
