import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError, labState, netnsPath, startApiProxy } from '../../lab';
import { UsageError } from '../../errors';
import type { Command } from '../command';

/** Internal: the lab's API proxy process, started by `lab up` and tagged --lab NAME so `lab down` finds it. */
export const apiProxy: Command = {
  name: 'api-proxy',
  usage: 'meshnetctl lab api-proxy --lab NAME [--run-dir DIR]   (internal: started by lab up)',
  options: { lab: { type: 'string' }, 'run-dir': { type: 'string' } },
  async run(p) {
    const name = p.values.lab;
    if (typeof name !== 'string') throw new UsageError('lab api-proxy needs --lab NAME');
    const runDir = p.values['run-dir'];
    const state = labState(name, typeof runDir === 'string' ? { runDir } : {});
    const target = state.kube?.target ?? (state.etcd ? { ip: '127.0.0.1', port: state.etcd.port } : undefined);
    if (!target) throw new LabError(`lab "${name}" has no Kubernetes API server or etcd for its nodes to reach`);
    const log = (s: string) => process.stderr.write(`${new Date().toISOString()} ${s}\n`);
    const proxy = await startApiProxy(target, state.nodes.map((n) => netnsPath(n.netns)), log);
    writeFileSync(join(state.dir, 'api-proxy.ready'), `${process.pid}\n`);
    log(`api proxy for lab ${name}: ${target.ip}:${target.port} reachable from ${state.nodes.length} node(s)`);
    await new Promise<void>((r) => {
      process.once('SIGTERM', () => r());
      process.once('SIGINT', () => r());
    });
    await proxy.close();
    return 0;
  },
};
