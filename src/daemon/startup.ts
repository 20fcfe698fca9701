// What meshnetd needs from its surroundings at start: its store answering, its TLS files, its
// gRPC port free, its exec shim, the cniVersion the runtime will send. Each failure names the
// flag or path it comes from.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { TlsMaterial } from '../grpc';
import type { Logger } from '../log';
import { StoreError, type Store } from '../store';
import { TOPOLOGY_RESOURCE } from '../topology';
import { MESHNET_CONFLIST } from './cni-installer';
import type { DaemonConfig } from './config';

/** A name no Topology can have in practice: its NotFound proves the store answers. */
const PROBE_NAME = 'meshnetd-readiness-probe';

/** The store answers (NotFound for the probe object counts): for /readyz and the start-up check. */
export async function storeProblem(store: Store): Promise<string | undefined> {
  try {
    await store.get(TOPOLOGY_RESOURCE, 'default', PROBE_NAME);
    return undefined;
  } catch (e) {
    return e instanceof StoreError ? e.message : String(e);
  }
}

/** The PEM files of --peer-tls, read once at start (restart to pick up renewed ones); errors name the flag. */
export function readTls(t: DaemonConfig['peerTls']): TlsMaterial | undefined {
  if (t.mode === 'off') return undefined;
  const read = (flag: string, path: string | undefined): Buffer => {
    try {
      return readFileSync(path!);
    } catch (e) {
      throw new Error(`--tls-${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const m = { cert: read('cert', t.cert), key: read('key', t.key), ca: read('ca', t.ca) };
  // Checked now rather than at the first peer's handshake.
  try {
    createSecureContext({ cert: m.cert, key: m.key, ca: m.ca });
  } catch (e) {
    throw new Error(`--tls-cert/--tls-key/--tls-ca: not a usable certificate, key and CA: ${(e as Error).message}`);
  }
  return m;
}

/** How long a start waits for the gRPC port to be free (see listenRetrying). */
const PORT_WAIT_MS = 60_000;

/**
 * Starts the gRPC server, waiting while its port is still held. A killed meshnetd's port stays
 * bound until the kernel has closed all of its sockets, and closing hundreds of grpc-wire packet
 * sockets takes seconds (one RCU grace period each): the restarted daemon, as kubelet starts it at
 * once, would otherwise fail with EADDRINUSE and go into CrashLoopBackOff (measured in the storm
 * test: a zombie holding 0.0.0.0:51111 for seconds after SIGKILL).
 */
export async function listenRetrying<T>(log: Logger, start: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + PORT_WAIT_MS;
  for (let told = false; ; ) {
    try {
      return await start();
    } catch (e) {
      if ((e as { cause?: { code?: string } }).cause?.code !== 'EADDRINUSE' || Date.now() > deadline) throw e;
      if (!told) log.warn(`${(e as Error).message}: waiting for it to be released (a previous meshnetd still exiting?)`);
      told = true;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The exec shim the installer copies: dist/cni/meshnet next to this bundle (the image's layout). */
export function shimPath(): string {
  return resolve(join(dirname(process.argv[1] ?? '.'), 'cni', 'meshnet'));
}

/** The cniVersion of meshnet's chained config in `confDir` (what the runtime would send us), else 1.0.0. */
export function installedCniVersion(confDir: string): string {
  try {
    const v = (JSON.parse(readFileSync(join(confDir, MESHNET_CONFLIST), 'utf8')) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' ? v : '1.0.0';
  } catch {
    return '1.0.0';
  }
}
