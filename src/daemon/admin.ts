// meshnetd's admin endpoint: HTTP on a unix socket next to the CNI socket (reachable from the
// host even though the daemon lives in a node's netns; mode 0600). GET /metrics is Prometheus
// text (metrics.ts; the same as on the TCP health port); GET /wires is per-wire telemetry as JSON.
import { createServer, type Server } from 'node:http';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { WireDataplane, WireStats, WireTelemetry } from '../wire/dataplane';
import { buildInfo } from '../build';
import { CNI_SECONDS_BUCKETS, MetricsRegistry, addProcessMetrics, type Counter, type Histogram } from './metrics';
import { serveProbe, type ReadinessCheck } from './health';

/**
 * The daemon's metric families: build info, process, CNI call latency, peer refusals, and the
 * grpc-wire dataplane (per wire, labelled by pod and interface, which the topology bounds; a netns
 * path or wire id would make a new series every time a pod restarts).
 */
export function daemonMetrics(o: { node: string; dataplane: WireDataplane; denied: ReadonlyMap<string, number> }): { registry: MetricsRegistry; cniCalls: Histogram; peerConnections: Counter; grpcCalls: Counter } {
  const reg = new MetricsRegistry({ node: o.node });
  const b = buildInfo();
  reg.collect('meshnetd_build_info', 'Always 1; the labels say which build of meshnetd runs.', 'gauge', () => [[{ version: b.version, commit: b.commit, nodejs_version: b.node }, 1]]);
  addProcessMetrics(reg);
  const cniCalls = reg.histogram('meshnetd_cni_request_duration_seconds', 'Time meshnetd took to answer a CNI call (ADD, DEL, CHECK), in seconds, by command and result (ok or error).',
    ['command', 'result'], CNI_SECONDS_BUCKETS);
  const grpcCalls = reg.counter('meshnetd_grpc_requests_total',
    'gRPC calls to meshnetd\'s port, by method (other: a path that is no method) and how they ended (a gRPC code, or HTTP_<status> when refused before gRPC).', ['method', 'code']);
  const peerConnections = reg.counter('meshnetd_peer_connections_total',
    'Connections to the gRPC port from other hosts with --peer-tls permit or require, by transport (mtls or plaintext) and result (accepted or refused).', ['transport', 'result']);
  reg.collect('meshnetd_peer_requests_denied_total', 'gRPC requests refused with PERMISSION_DENIED (docs/security.md), by method.', 'counter',
    () => [...o.denied].map(([method, n]): [Record<string, string>, number] => [{ method }, n]));
  const per = (f: (w: WireTelemetry) => number) => () => o.dataplane.telemetry().map((w): [Record<string, string>, number] =>
    [{ namespace: w.pod?.namespace ?? '', pod: w.pod?.name ?? '', intf: w.podIntf, peer_node: w.peerNode }, f(w)]);
  reg.collect('meshnet_wire_frames_from_pod_total', 'Frames read from the pod\'s interface and sent to the peer node.', 'counter', per((w) => w.framesFromPod));
  reg.collect('meshnet_wire_frames_to_pod_total', 'Frames from the peer node delivered to the pod\'s interface.', 'counter', per((w) => w.framesToPod));
  reg.collect('meshnet_wire_bytes_from_pod_total', 'Bytes read from the pod\'s interface (with virtio-net headers).', 'counter', per((w) => w.bytesFromPod));
  reg.collect('meshnet_wire_bytes_to_pod_total', 'Bytes delivered to the pod\'s interface (with virtio-net headers).', 'counter', per((w) => w.bytesToPod));
  reg.collect('meshnet_wire_kernel_drops_total', 'Frames from the pod the kernel dropped before meshnetd read them (receive buffer full).', 'counter', per((w) => w.kernelDrops));
  reg.collect('meshnet_wire_carrier', '1 when the wire has carrier (its peer node\'s daemon answers), else 0 (the pod sees NO-CARRIER).', 'gauge', per((w) => (w.carrier ? 1 : 0)));
  const totals: [keyof WireStats, string, string][] = [
    ['framesOut', 'meshnet_dataplane_frames_sent_total', 'Frames sent to peer nodes, all wires.'],
    ['framesIn', 'meshnet_dataplane_frames_received_total', 'Frames received from peer nodes and delivered to a wire, all wires.'],
    ['unknownWire', 'meshnet_dataplane_unknown_wire_frames_total', 'Frames from peer nodes for a wire id this node does not have (dropped).'],
    ['wrongPeer', 'meshnet_dataplane_wrong_peer_frames_total', 'Frames for a wire that came from a node other than the wire\'s peer (dropped).'],
    ['sendFailed', 'meshnet_dataplane_pod_send_failures_total', 'Frames the pod\'s end could not take (socket buffer full; dropped).'],
    ['kernelDrops', 'meshnet_dataplane_kernel_drops_total', 'Frames from pods the kernel dropped before meshnetd read them, all wires.'],
    ['streamDrops', 'meshnet_dataplane_stream_drops_total', 'Frames dropped because the stream to their peer node was full or broken.'],
  ];
  for (const [k, name, help] of totals) reg.collect(name, help, 'counter', () => [[{}, Number(o.dataplane.stats()[k] ?? 0)]]);
  reg.collect('meshnet_dataplane_wires', 'grpc-wire ends this node relays.', 'gauge', () => [[{}, o.dataplane.stats().wires]]);
  return { registry: reg, cniCalls, peerConnections, grpcCalls };
}

export async function listenAdmin(path: string, metrics: MetricsRegistry, dataplane: WireDataplane, checks: ReadinessCheck[] = []): Promise<{ close(): Promise<void> }> {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  try { unlinkSync(path); } catch { /* none left over */ }
  const server: Server = createServer(async (req, res) => {
    if (req.method === 'GET' && await serveProbe(req.url, checks, res)) return;
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(metrics.text());
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
