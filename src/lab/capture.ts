// `lab capture LAB POD:IFACE`: tcpdump inside the pod's network namespace, on the pod's own
// interface. Every link kind ends in an interface there (veth, VXLAN, grpc-wire, macvlan), so one
// capture point serves all, and it sees exactly what the pod sends and receives. Output is a
// pcap file (`-w FILE`), a pcap stream (`-w -`, for `| tcpdump -r -` or Wireshark), or decoded
// lines on stdout.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { LabError } from './errors';
import type { Endpoint } from './endpoint';

export interface CaptureOptions {
  /** A pcap file, or '-' for a pcap stream on stdout; decoded lines when absent. */
  write?: string;
  /** Stop after this many packets. */
  count?: number;
  /** Stop after this many seconds. */
  durationS?: number;
  /** A tcpdump (pcap-filter) expression, its words as given. */
  filter?: string[];
}

/** Runs the capture until COUNT packets, DURATION seconds or SIGINT; resolves to tcpdump's exit status. */
export function capture(ep: Endpoint, o: CaptureOptions): Promise<number> {
  const path = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin'];
  if (!path.some((d) => d && existsSync(join(d, 'tcpdump')))) throw new LabError('lab capture needs tcpdump, which is not installed (Debian: apt-get install tcpdump)');
  const args = ['netns', 'exec', ep.pod.netns, 'tcpdump', '-i', ep.intf, '-s', '0', '-Z', 'root'];
  // -U: each packet is flushed as it comes, so a reader of `-w -` sees it at once.
  if (o.write !== undefined) args.push('-U', '-w', o.write);
  else args.push('-n', '-e', '-l');
  if (o.count !== undefined) args.push('-c', String(o.count));
  // After `--`: a filter word that starts with '-' is not taken for an option of tcpdump's.
  if (o.filter?.length) args.push('--', ...o.filter);
  const child = spawn('ip', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  // SIGINT, as at a terminal: tcpdump flushes the file and prints its counts before exiting.
  const stop = () => child.kill('SIGINT');
  const timer = o.durationS !== undefined ? setTimeout(stop, o.durationS * 1000) : undefined;
  process.once('SIGINT', stop);
  return new Promise((resolve, reject) => {
    child.once('error', (e) => reject(new LabError(`tcpdump could not be started: ${e.message}`)));
    child.once('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      process.removeListener('SIGINT', stop);
      resolve(code ?? (signal === 'SIGINT' ? 0 : 1));
    });
  });
}
