// A streaming watch's body as JSON lines (etcd's gateway and the Kubernetes API both send one JSON
// document per line): each complete line parsed and handed on; a line that is not JSON ends the
// stream with an error naming it, instead of throwing out of a data handler.
import type { IncomingMessage } from 'node:http';

/**
 * Reads `res` line by line. `onValue` returns false to stop reading (it failed the stream itself);
 * `onBad` gets the parse error of a line that is not JSON (reading stops there).
 */
export function readJsonLines(res: IncomingMessage, onValue: (v: unknown) => boolean | void, onBad: (e: Error) => void): void {
  let buf = '';
  let stopped = false;
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    if (stopped) return;
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        stopped = true;
        onBad(new Error(`not a JSON line (${(e as Error).message}): ${line.slice(0, 120)}`));
        return;
      }
      if (onValue(v) === false) {
        stopped = true;
        return;
      }
    }
  });
}
