// Addresses of peer daemons. Upstream dialled fmt.Sprintf("%s:%d", ip, port), which produces
// "fd00::1:51111" for an IPv6 node and broke IPv6-only clusters; here IPv6 is always bracketed.
import { isIPv6 } from 'node:net';

/** The TCP port every meshnet daemon serves its gRPC API on. */
export const MESHNET_GRPC_PORT = 51111;

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`gRPC port must be an integer 1..65535, got ${String(port)}`);
  }
}

/** `host:port` for dialling; an IPv6 address is bracketed: grpcAddress('::1', 51111) === '[::1]:51111'. */
export function grpcAddress(ip: string, port: number = MESHNET_GRPC_PORT): string {
  const host = ip.trim();
  if (host === '') throw new TypeError('gRPC peer address is empty');
  checkPort(port);
  if (host.startsWith('[') && host.endsWith(']')) return `${host}:${port}`;
  if (host.includes(':')) {
    if (!isIPv6(host.split('%')[0] ?? '')) throw new TypeError(`not an IP address or host name: "${ip}"`);
    return `[${host}]:${port}`;
  }
  return `${host}:${port}`;
}

/**
 * The http:// base URL for an address made by grpcAddress (`host:port` or `[v6]:port`).
 * An unbracketed IPv6 address is rejected: "fd00::1:51111" is ambiguous.
 */
export function grpcBaseUrl(address: string): string {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d+)$/.exec(address);
  if (m === null) {
    throw new TypeError(`gRPC address must be host:port or [ipv6]:port (see grpcAddress), got "${address}"`);
  }
  const [, host = '', port = ''] = m;
  checkPort(Number(port));
  if (host.startsWith('[')) {
    const inner = host.slice(1, -1);
    const [addr = '', zone] = inner.split('%');
    if (!isIPv6(addr)) throw new TypeError(`not an IPv6 address in "${address}"`);
    // A zone id (fe80::1%eth0) must be percent-encoded inside a URL.
    return `http://[${addr}${zone === undefined ? '' : `%25${zone}`}]:${port}`;
  }
  return `http://${host}:${port}`;
}
