// One port for both transports when peer TLS is on (--peer-tls permit|require): the first byte of a
// connection tells a TLS ClientHello (0x16) from HTTP/2's plaintext preface. TLS connections must
// present a certificate our CA signed, naming the address they come from (tls.ts); plaintext is
// served to loopback (this node: upstream's plugin calling Local) always, and to other hosts only
// with `permit` (a migration step). Every accepted or refused peer connection is reported once.
import * as http2 from 'node:http2';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { certificateNames, isLoopback, normalizeIp, peerIdentityProblem, type PeerConnection, type ServerTls } from './tls';

export interface PeerTlsListenerOptions {
  h2: http2.ServerOptions;
  onRequest: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
  /** The plaintext HTTP/2 server the plaintext connections are handed to. */
  plaintext: http2.Http2Server;
  tls: ServerTls;
  onSession: (s: http2.ServerHttp2Session) => void;
  onSessionError: (e: Error) => void;
  report: (c: PeerConnection) => void;
}

/** A TCP listener that hands each connection to the TLS or the plaintext HTTP/2 server. */
export function peerTlsListener(o: PeerTlsListenerOptions): TcpServer {
  const { tls, report } = o;
  const secure = http2.createSecureServer({ ...o.h2, ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, o.onRequest);
  secure.on('session', o.onSession);
  secure.on('sessionError', o.onSessionError);
  // A handshake the CA does not vouch for (no certificate, another CA's) never becomes a connection.
  // By then the TLS socket has lost its peer address: it is taken from the TCP socket it wraps
  // (`_parent`, set by Node's TLSSocket for a wrapped socket), recorded when it connected.
  const tcpFrom = new WeakMap<object, string>();
  secure.on('tlsClientError', (err, socket) => {
    const from = tcpFrom.get((socket as { _parent?: object })._parent ?? socket) ?? normalizeIp(socket.remoteAddress ?? '');
    // Node ends the handshake of a client whose certificate it cannot verify with a bare "socket
    // hang up"; the reason is in authorizationError.
    const why = (socket as { authorizationError?: Error | string }).authorizationError;
    report({ transport: 'mtls', from, accepted: false, detail: why ? `its certificate is not signed by --tls-ca (${String(why)})` : `TLS handshake failed: ${err.message.split('\n')[0]}` });
  });
  // Verified, but it must also be the node it says: the certificate names the address it comes from.
  secure.prependListener('secureConnection', (socket: TLSSocket) => {
    const from = normalizeIp(socket.remoteAddress ?? '');
    const problem = peerIdentityProblem(socket);
    if (problem) {
      report({ transport: 'mtls', from, accepted: false, detail: problem });
      socket.destroy();
      return;
    }
    const n = certificateNames(socket.getPeerCertificate());
    report({ transport: 'mtls', from, accepted: true, detail: `certificate for ${[...n.ips, ...n.dns].join(', ')}` });
  });
  return createTcpServer({ pauseOnConnect: true }, (socket: Socket) => {
    socket.on('error', () => undefined); // a reset before the first byte
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null;
      if (!first) { socket.destroy(); return; }
      socket.unshift(first);
      const from = normalizeIp(socket.remoteAddress ?? '');
      if (first[0] === 0x16) {
        tcpFrom.set(socket, from);
        secure.emit('connection', socket);
      } else if (tls.mode === 'permit' || isLoopback(from)) {
        // Loopback is this node (upstream's plugin calling Local); permit is a migration step.
        if (!isLoopback(from)) report({ transport: 'plaintext', from, accepted: true, detail: 'plaintext allowed (--peer-tls permit)' });
        o.plaintext.emit('connection', socket);
      } else {
        report({ transport: 'plaintext', from, accepted: false, detail: 'plaintext from another host (--peer-tls require)' });
        socket.destroy();
        return;
      }
      socket.resume();
    });
    socket.resume();
    socket.pause();
  });
}
