// meshnetd's probes: GET /healthz (the process serves requests: liveness) and GET /readyz (it can
// do its job: CNI socket and gRPC listening, the store answering, the CNI config installed), over
// TCP for the DaemonSet's httpGet probes; the same port serves /metrics (admin.ts). /readyz answers 503 with the reasons, one per line.
import { createServer, type Server } from 'node:http';

export interface ReadinessCheck {
  name: string;
  /** undefined when fine, else why not. */
  check(): Promise<string | undefined>;
}

/** Runs every check; the list of failures (empty when ready). */
export async function readiness(checks: ReadinessCheck[]): Promise<string[]> {
  const out: string[] = [];
  for (const c of checks) {
    try {
      const why = await c.check();
      if (why) out.push(`${c.name}: ${why}`);
    } catch (e) {
      out.push(`${c.name}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Handles /healthz and /readyz; false for other paths (the caller answers them). */
export async function serveProbe(url: string | undefined, checks: ReadinessCheck[], res: import('node:http').ServerResponse): Promise<boolean> {
  if (url === '/healthz' || url === '/livez') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
    return true;
  }
  if (url === '/readyz') {
    const failures = await readiness(checks);
    res.writeHead(failures.length ? 503 : 200, { 'content-type': 'text/plain' });
    res.end(failures.length ? `${failures.join('\n')}\n` : 'ok\n');
    return true;
  }
  return false;
}

/** Probes, and /metrics when given a registry (the DaemonSet's port for a ServiceMonitor). */
export async function listenHealth(port: number, checks: ReadinessCheck[], metrics?: { text(): string }): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (metrics && req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(metrics.text());
      return;
    }
    void serveProbe(req.url, checks, res).then((served) => {
      if (!served) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end(`meshnetd: GET /healthz, /readyz${metrics ? ' or /metrics' : ''}\n`);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  const a = server.address();
  return {
    port: typeof a === 'object' && a ? a.port : port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
