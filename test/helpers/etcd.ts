// A real etcd (Debian's etcd-server) for one test file: loopback only, free ports, a temp data
// directory, stopped and removed in `stop()`. Optionally over TLS (certificates made by
// scripts/make-certs.sh, client certificates required) and with user/password auth enabled.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/lab/etcd';


export interface TestEtcd {
  /** http://127.0.0.1:PORT (https:// with TLS) */
  endpoint: string;
  /**
   * With TLS: the CA; client certificates signed by it, "meshnet" without a Common Name (what etcd's
   * gateway accepts with auth on) and "named" with one; "stranger", signed by another CA.
   */
  pki?: { dir: string; ca: string; client: { cert: string; key: string }; named: { cert: string; key: string }; stranger: { cert: string; key: string; ca: string } };
  /** With auth: the user meshnet-ts uses (read-write on /meshnet/) and a file with its password. */
  auth?: { user: string; password: string; passwordFile: string };
  stop(): Promise<void>;
  /** Stops the etcd process, keeping its data (resume() starts it again on the same ports). */
  halt(): Promise<void>;
  resume(): Promise<void>;
}

function makeCert(dir: string, name: string, ips: string[] = [], noCn = false): void {
  const r = spawnSync('bash', ['scripts/make-certs.sh', dir, name, ...ips], { encoding: 'utf8', env: { ...process.env, ...(noCn ? { NO_CN: '1' } : {}) } });
  if (r.status !== 0) throw new Error(`make-certs.sh ${name}: ${r.stderr}`);
}

/** A POST to etcd's gateway as root (setting auth up), over TLS with the client certificate when asked. */
async function gateway(etcd: TestEtcd, path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const headers = { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) };
  if (!etcd.pki) {
    const r = await fetch(`${etcd.endpoint}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const j = (await r.json()) as Record<string, unknown>;
    if (!r.ok) throw new Error(`etcd ${path}: ${JSON.stringify(j)}`);
    return j;
  }
  const pki = etcd.pki;
  return new Promise((resolveReq, reject) => {
    const req = request(`${etcd.endpoint}${path}`, { method: 'POST', headers, ca: readFileSync(pki.ca), cert: readFileSync(pki.client.cert), key: readFileSync(pki.client.key) }, (res) => {
      let t = '';
      res.on('data', (d: Buffer) => { t += d.toString(); });
      res.on('end', () => (res.statusCode === 200 ? resolveReq(JSON.parse(t) as Record<string, unknown>) : reject(new Error(`etcd ${path}: ${t}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

export async function startEtcd(opts: { tls?: boolean; auth?: boolean; tokenTtlSeconds?: number } = {}): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-test-'));
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${client}`;
  let pki: TestEtcd['pki'];
  const tlsFlags: string[] = [];
  if (opts.tls) {
    const p = join(dir, 'pki');
    makeCert(p, 'etcd', ['127.0.0.1']);
    makeCert(p, 'meshnet', [], true);
    makeCert(p, 'named');
    makeCert(join(dir, 'other-ca'), 'stranger');
    pki = {
      dir: p, ca: join(p, 'ca.crt'), client: { cert: join(p, 'meshnet.crt'), key: join(p, 'meshnet.key') },
      named: { cert: join(p, 'named.crt'), key: join(p, 'named.key') },
      stranger: { cert: join(dir, 'other-ca', 'stranger.crt'), key: join(dir, 'other-ca', 'stranger.key'), ca: join(dir, 'other-ca', 'ca.crt') },
    };
    tlsFlags.push('--cert-file', join(p, 'etcd.crt'), '--key-file', join(p, 'etcd.key'), '--trusted-ca-file', pki.ca, '--client-cert-auth');
  }
  const args = [
    '--name', 't', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `t=http://127.0.0.1:${peer}`,
    ...tlsFlags, ...(opts.tokenTtlSeconds ? ['--auth-token-ttl', String(opts.tokenTtlSeconds)] : []),
  ];
  let log = '';
  let child = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
  const kill = async () => {
    child.kill('SIGTERM');
    for (let i = 0; i < 100 && child.exitCode === null && child.signalCode === null; i++) await sleep(20);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const stop = async () => {
    await kill();
    rmSync(dir, { recursive: true, force: true });
  };
  const etcd: TestEtcd = { endpoint, ...(pki ? { pki } : {}), stop, halt: kill, resume: async () => {
    child = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
    if (!await healthy()) throw new Error(`etcd did not come back on ${endpoint}:\n${log}`);
  } };
  const healthy = async () => {
    for (let i = 0; i < 250; i++) {
      try {
        await gateway(etcd, '/v3/kv/range', { key: b64('/health-probe') });
        return true;
      } catch (e) {
        if ((e as Error).message.startsWith('etcd ')) return true; // it answered (a refusal once auth is on)
      }
      if (child.exitCode !== null) return false;
      await sleep(20);
    }
    return false;
  };
  const up = await healthy();
  if (up) {
    try {
      if (opts.auth) {
        // root (needed to enable auth) and the user meshnet-ts runs as: read-write on /meshnet/ only.
        const password = `pw-${Math.random().toString(36).slice(2)}`;
        const passwordFile = join(dir, 'password');
        writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
        await gateway(etcd, '/v3/auth/role/add', { name: 'root' });
        await gateway(etcd, '/v3/auth/user/add', { name: 'root', password: 'rootpw' });
        await gateway(etcd, '/v3/auth/user/grant', { user: 'root', role: 'root' });
        await gateway(etcd, '/v3/auth/role/add', { name: 'meshnet' });
        await gateway(etcd, '/v3/auth/role/grant', { name: 'meshnet', perm: { permType: 'READWRITE', key: b64('/meshnet/'), range_end: b64('/meshnet0') } });
        await gateway(etcd, '/v3/auth/user/add', { name: 'meshnet-ts', password });
        await gateway(etcd, '/v3/auth/user/grant', { user: 'meshnet-ts', role: 'meshnet' });
        await gateway(etcd, '/v3/auth/enable', {});
        etcd.auth = { user: 'meshnet-ts', password, passwordFile };
      }
      return etcd;
    } catch (e) {
      await stop();
      throw e;
    }
  }
  await stop();
  throw new Error(`etcd did not become healthy on ${endpoint}:\n${log}`);
}
