// meshnetd's admin endpoint: HTTP on a unix socket next to the CNI socket (reachable from the
// host even though the daemon lives in a node's netns; mode 0600). GET /metrics is Prometheus
// text (per-wire counters and carrier, dataplane totals); GET /wires is the same as JSON.
import { createServer, type Server } from 'node:http';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { WireDataplane, WireTelemetry } from '../wire/dataplane';
import { serveProbe, type ReadinessCheck } from './health';

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function metricsText(node: string, wires: WireTelemetry[], totals: Record<string, number>, denied: ReadonlyMap<string, number> = new Map()): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: 'counter' | 'gauge', rows: [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) {
      const l = Object.entries({ node, ...labels }).map(([k, x]) => `${k}="${esc(x)}"`).join(',');
      lines.push(`${name}{${l}} ${v}`);
    }
  };
  const per = (f: (w: WireTelemetry) => number) => wires.map((w): [Record<string, string>, number] =>
    [{ wire: w.id, pod_netns: w.podNetns, pod_intf: w.podIntf, peer_node: w.peerNode }, f(w)]);
  metric('meshnet_wire_frames_from_pod_total', 'Frames read from the pod and sent to the peer node.', 'counter', per((w) => w.framesFromPod));
  metric('meshnet_wire_frames_to_pod_total', 'Frames from the peer node delivered to the pod.', 'counter', per((w) => w.framesToPod));
  metric('meshnet_wire_bytes_from_pod_total', 'Bytes read from the pod (with virtio-net headers).', 'counter', per((w) => w.bytesFromPod));
  metric('meshnet_wire_bytes_to_pod_total', 'Bytes delivered to the pod (with virtio-net headers).', 'counter', per((w) => w.bytesToPod));
  metric('meshnet_wire_kernel_drops_total', 'Frames the kernel dropped before the daemon read them.', 'counter', per((w) => w.kernelDrops));
  metric('meshnet_wire_carrier', '1 when the wire has carrier (its peer node answers), else 0.', 'gauge', per((w) => (w.carrier ? 1 : 0)));
  for (const [k, v] of Object.entries(totals)) {
    const name = `meshnet_dataplane_${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
    metric(name, `Dataplane ${k}.`, k === 'wires' ? 'gauge' : 'counter', [[{}, v]]);
  }
  metric('meshnetd_peer_requests_denied_total', 'Requests refused with PERMISSION_DENIED (peer-auth.ts), by gRPC method.', 'counter',
    [...denied].map(([method, n]): [Record<string, string>, number] => [{ method }, n]));
  return `${lines.join('\n')}\n`;
}

export async function listenAdmin(path: string, node: string, dataplane: WireDataplane, checks: ReadinessCheck[] = [], denied: ReadonlyMap<string, number> = new Map()): Promise<{ close(): Promise<void> }> {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  try { unlinkSync(path); } catch { /* none left over */ }
  const server: Server = createServer(async (req, res) => {
    if (req.method === 'GET' && await serveProbe(req.url, checks, res)) return;
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(metricsText(node, dataplane.telemetry(), { ...dataplane.stats() }, denied));
    } else if (req.method === 'GET' && req.url === '/wires') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(dataplane.telemetry()));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('meshnetd admin: GET /metrics, /wires, /healthz or /readyz\n');
    }
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolveListen());
  });
  chmodSync(path, 0o600);
  return {
    close: () => new Promise<void>((r) => server.close(() => {
      try { unlinkSync(path); } catch { /* gone */ }
      r();
    })),
  };
}
