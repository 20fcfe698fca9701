// The daemon's local CNI endpoint: the exec shim (src/shim/cni-shim.c) forwards each CNI call
// here, and the call runs through the same plugin skeleton and code as the standalone plugin.
// See cni-shim.c for the wire format; both sides must change together.
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runPlugin, type PluginFuncs, type PluginIO } from '../cni';
import type { Logger } from '../log';

export { SOCKET_DIR, cniSocketPath } from '../plumbing/sockets';
const MAGIC = 'MNC1\n';
/** A request larger than this is not a CNI call (configs are a few KB). */
const MAX_REQUEST = 16 << 20;

export interface CniRequest {
  env: Record<string, string>;
  stdin: string;
}

/** Parses one request; throws an Error saying what is malformed. */
export function parseCniRequest(data: Buffer): CniRequest {
  if (data.subarray(0, MAGIC.length).toString() !== MAGIC) throw new Error('not a cni-shim request (bad magic)');
  const end = data.indexOf('\n\n', MAGIC.length - 1);
  if (end < 0) throw new Error('cni-shim request has no end of environment');
  const env: Record<string, string> = {};
  const head = data.subarray(MAGIC.length, end).toString();
  for (const line of head ? head.split('\n') : []) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`cni-shim request has a malformed variable line ${JSON.stringify(line)}`);
    const key = line.slice(0, eq);
    if (!key.startsWith('CNI_')) throw new Error(`cni-shim request forwards ${key}, only CNI_* variables are accepted`);
    env[key] = line.slice(eq + 1);
  }
  return { env, stdin: data.subarray(end + 2).toString() };
}

export interface CallLog {
  command: string;
  containerId: string;
  /** namespace/name from CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME), when the runtime passed them. */
  pod?: string;
  exitCode: number;
  ms: number;
  stdout: string;
}

/** Runs one forwarded call through the plugin skeleton and returns the response bytes. */
export async function serveCniRequest(plugin: PluginFuncs, req: CniRequest, onLog?: (l: CallLog) => void, logErr?: (s: string) => void): Promise<Buffer> {
  let stdout = '';
  const io: PluginIO = {
    env: req.env,
    readStdin: async () => req.stdin,
    writeStdout: (s) => { stdout += s; },
    writeStderr: (s) => logErr?.(s),
  };
  const t0 = performance.now();
  const code = await runPlugin(plugin, io);
  const pod = podOf(req.env.CNI_ARGS ?? '');
  onLog?.({ command: req.env.CNI_COMMAND ?? '?', containerId: req.env.CNI_CONTAINERID ?? '', ...(pod ? { pod } : {}), exitCode: code, ms: performance.now() - t0, stdout });
  return Buffer.from(`${code}\n${stdout}`);
}

/** The pod a call is for, from CNI_ARGS, for the log only (the plugin validates CNI_ARGS itself). */
function podOf(cniArgs: string): string | undefined {
  const kv = new Map(cniArgs.split(';').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] as const));
  const ns = kv.get('K8S_POD_NAMESPACE'), name = kv.get('K8S_POD_NAME');
  return ns && name ? `${ns}/${name}` : undefined;
}

export interface CniSocketServer {
  path: string;
  close(): Promise<void>;
}

/**
 * Listens on `path` (mode 0600 in a 0700 directory: only root may ask for plumbing). Calls run
 * one at a time: plumbing decisions read and write shared state, and a node's ADDs are short.
 */
export async function listenCniSocket(path: string, plugin: PluginFuncs, log: Logger, onCall?: (l: CallLog) => void): Promise<CniSocketServer> {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  try {
    unlinkSync(path); // a socket left by a killed predecessor
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  let queue: Promise<void> = Promise.resolve();
  // allowHalfOpen: the shim shuts down its write side to mark the end of the request and
  // still reads the answer; Node would otherwise end our side at its FIN.
  const server: Server = createServer({ allowHalfOpen: true }, (sock: Socket) => {
    const chunks: Buffer[] = [];
    let size = 0;
    sock.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_REQUEST) {
        log.warn('cni socket: request too large, dropped', { limit_bytes: MAX_REQUEST });
        sock.destroy();
        return;
      }
      chunks.push(d);
    });
    sock.on('error', (e) => log.warn(`cni socket: ${e.message}`));
    sock.on('end', () => {
      queue = queue.then(async () => {
        let resp: Buffer;
        try {
          const req = parseCniRequest(Buffer.concat(chunks));
          resp = await serveCniRequest(plugin, req,
            (l) => {
              onCall?.(l);
              (l.exitCode ? log.warn : log.info)('cni call', {
                command: l.command, container: l.containerId.slice(0, 12), pod: l.pod, exit: l.exitCode, duration_ms: Number(l.ms.toFixed(1)),
                ...(l.exitCode ? { error: l.stdout.trim() } : {}),
              });
            },
            (s) => log.warn(s.trimEnd()));
        } catch (e) {
          const msg = e instanceof Error ? e.message : String(e);
          log.warn('cni socket: bad request', { error: msg });
          resp = Buffer.from(`1\n${JSON.stringify({ cniVersion: '1.0.0', code: 999, msg: 'meshnetd rejected the request', details: msg })}`);
        }
        if (!sock.destroyed) sock.end(resp);
      });
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolveListen());
  });
  chmodSync(path, 0o600);
  return {
    path,
    // Stop accepting, let queued calls finish, then remove the socket so shims fall back.
    close: () => new Promise<void>((resolveClose) => {
      server.close(() => {
        void queue.then(() => {
          try { unlinkSync(path); } catch { /* already gone */ }
          resolveClose();
        });
      });
    }),
  };
}
