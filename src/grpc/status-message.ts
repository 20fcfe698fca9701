// The grpc-message header as the gRPC spec writes it (PROTOCOL-HTTP2.md, "Status-Message"): the
// UTF-8 bytes of the message, each byte outside 0x20-0x7E and '%' itself percent-encoded, every
// other byte as is. connect-node (and this project, until issue 19) encoded it with
// encodeURIComponent, so grpc-go and grpc-js peers showed "%2Fvar%2Frun%2Fnetns%2F…" where
// the message said "/var/run/netns/…".

/** The header value for `message`. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * The message from a header value. As the spec asks of receivers, a '%' not followed by two hex
 * digits is kept as it is (never an error: a peer's odd status must not hide the status itself).
 */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes('%')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const hex = value.slice(i + 1, i + 3);
    if (value[i] === '%' && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(value[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Makes connect-node's responses on `res` carry grpc-message as the spec writes it: connect
 * encodes with encodeURIComponent, which decodeURIComponent undoes exactly before re-encoding.
 */
export function specGrpcMessages(res: { writeHead: unknown; addTrailers: unknown }): void {
  const fix = (h: unknown): void => {
    const o = h as Record<string, unknown> | undefined;
    const v = o?.['grpc-message'];
    if (typeof v !== 'string') return;
    let message: string;
    try {
      message = decodeURIComponent(v);
    } catch {
      message = v; // not connect's encoding: leave it as the handler wrote it
    }
    o!['grpc-message'] = encodeGrpcMessage(message);
  };
  const writeHead = (res.writeHead as (...a: unknown[]) => unknown).bind(res);
  res.writeHead = (...a: unknown[]) => { fix(a.find((x) => typeof x === 'object')); return writeHead(...a); };
  const addTrailers = (res.addTrailers as (t: unknown) => void).bind(res);
  res.addTrailers = (t: unknown) => { fix(t); addTrailers(t); };
}
