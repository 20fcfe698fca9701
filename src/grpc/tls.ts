// mTLS between meshnet daemons (docs/security.md). Off by default: upstream's daemons and
// plugin speak plaintext gRPC. `permit` serves TLS and plaintext on the same port (the first byte
// of a connection tells them apart: a TLS ClientHello starts with 0x16, HTTP/2's preface with 'P')
// and still dials peers in plaintext: the first step of a rolling migration. `require` dials peers
// with TLS and accepts plaintext only from loopback (upstream's plugin calling Local on its own
// node). A TLS peer must present a certificate signed by the CA that names the address it
// connects from (an IP SAN): the store names peers by node IP, and peer-auth.ts checks that the
// address is the one the store expects, so the certificate names the node the store says it is.
import { isIP } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';

export const PEER_TLS_MODES = ['off', 'permit', 'require'] as const;
export type PeerTlsMode = (typeof PEER_TLS_MODES)[number];

/** PEM contents of this node's certificate and key, and of the CA that signs every node's. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface ServerTls extends TlsMaterial {
  mode: 'permit' | 'require';
}

/** One incoming connection, as the daemon logs and counts it. */
export interface PeerConnection {
  transport: 'mtls' | 'plaintext';
  from: string;
  accepted: boolean;
  /** Why it was refused, or for mTLS whom the certificate names. */
  detail: string;
}

/**
 * HTTP/2 connect options for a peer: plaintext (upstream's way) or, with `tls`, https with this
 * node's certificate, the peer's verified against the CA and against the address dialled (Node
 * checks an IP host against the certificate's IP SANs). `baseUrl` is grpcBaseUrl's http:// URL.
 */
export function peerConnectOptions(baseUrl: string, tls: TlsMaterial | undefined): { baseUrl: string; options: import('node:http2').SecureClientSessionOptions } {
  const bracketed = baseUrl.startsWith('http://[');
  if (!tls) {
    // Node's http2 client strips the brackets of an IPv6 host and sends `:authority: ::1:51111`,
    // which is not a valid authority; for plaintext `servername` only builds :authority.
    return { baseUrl, options: bracketed ? { servername: new URL(baseUrl).hostname } : {} };
  }
  // With TLS, servername is the name checked (and never an IP in SNI): leave it to Node, which
  // checks the IP; the server repairs an unbracketed IPv6 :authority itself (server.ts).
  return { baseUrl: `https://${baseUrl.slice('http://'.length)}`, options: { ca: tls.ca, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' } };
}

/** The IP and DNS names of a certificate's subjectAltName. */
export function certificateNames(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): { ips: string[]; dns: string[] } {
  const ips: string[] = [];
  const dns: string[] = [];
  for (const part of (cert?.subjectaltname ?? '').split(',').map((p) => p.trim())) {
    if (part.startsWith('IP Address:')) ips.push(normalizeIp(part.slice('IP Address:'.length)));
    else if (part.startsWith('DNS:')) dns.push(part.slice(4));
  }
  return { ips, dns };
}

/** IPv4-mapped IPv6 as plain IPv4, IPv6 in Node's canonical lower-case form. */
export function normalizeIp(ip: string): string {
  const a = ip.trim();
  if (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4) return a.slice(7);
  if (isIP(a) === 6) return new URL(`http://[${a}]/`).hostname.slice(1, -1);
  return a;
}

export function isLoopback(address: string): boolean {
  const a = normalizeIp(address);
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}

/**
 * Checks a verified TLS peer: its certificate must carry an IP SAN equal to the address it
 * connects from. undefined when it does, else the reason to refuse it.
 */
export function peerIdentityProblem(socket: TLSSocket): string | undefined {
  const from = normalizeIp(socket.remoteAddress ?? '');
  const names = certificateNames(socket.getPeerCertificate());
  if (names.ips.includes(from)) return undefined;
  const named = [...names.ips.map((i) => `IP ${i}`), ...names.dns.map((d) => `DNS ${d}`)].join(', ') || 'no subjectAltName';
  return `its certificate names ${named}, not the address it connects from`;
}
