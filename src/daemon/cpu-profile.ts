// An optional CPU profile of meshnetd, for finding where a grpc-wire hop spends its time
// (docs/grpc-wire-plan.md): with MESHNETD_CPU_PROFILE=DIR the daemon profiles itself from start
// to shutdown and writes DIR/meshnetd-<node>-<pid>.cpuprofile (open it in Chrome DevTools or
// speedscope). Node refuses --cpu-prof in NODE_OPTIONS, and the lab starts meshnetd itself.
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CpuProfiler {
  /** Stops profiling and writes the profile; resolves to its path. */
  stop(): Promise<string>;
}

export function startCpuProfile(dir: string, nodeName: string): CpuProfiler {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  // 100 us: finer than Node's default 1 ms, since a wire hop takes about that long.
  session.post('Profiler.setSamplingInterval', { interval: 100 });
  session.post('Profiler.start');
  return {
    stop: () => new Promise((resolve, reject) => {
      session.post('Profiler.stop', (err, res) => {
        session.disconnect();
        if (err) return reject(err);
        mkdirSync(dir, { recursive: true });
        const file = join(dir, `meshnetd-${nodeName}-${process.pid}.cpuprofile`);
        writeFileSync(file, JSON.stringify(res.profile));
        resolve(file);
      });
    }),
  };
}
