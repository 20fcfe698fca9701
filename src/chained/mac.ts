// mac_prefix: the pod interface's MAC becomes the two prefix bytes followed by the four bytes of
// its IPv4 address, so a MAC tells which pod IP it belongs to (e.g. 0a:1b + 10.1.0.10 →
// 0a:1b:0a:01:00:0a).
export function macFromPrefix(prefix: string, ipv4: string): string {
  const bytes = ipv4.split('.').map((o) => Number(o).toString(16).padStart(2, '0'));
  return `${prefix}:${bytes.join(':')}`.toLowerCase();
}
