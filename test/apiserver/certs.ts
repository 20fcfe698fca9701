// A throw-away CA and a server certificate for the API-server double (openssl, EC P-256: fast),
// valid for the addresses clients dial: 127.0.0.1, ::1, localhost and the in-cluster names.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr || r.error?.message}`);
}

export function makeTls(extraIps: string[] = []): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), 'apiserver-double-tls-'));
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=apiserver-double-ca', '-days', '2'], dir);
    openssl(['req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=kube-apiserver'], dir);
    const sans = ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default.svc', ...extraIps.map((ip) => `IP:${ip}`)];
    writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${sans.join(',')}\n`);
    openssl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '2', '-extfile', 'ext.cnf'], dir);
    return {
      caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      certPem: readFileSync(join(dir, 'srv.crt'), 'utf8'),
      keyPem: readFileSync(join(dir, 'srv.key'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
