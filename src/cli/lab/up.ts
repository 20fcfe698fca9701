import { containerStates, labUp, readLabFile, type ExecOutcome } from '../../lab';
import { UsageError } from '../../errors';
import type { Command } from '../command';
import { out } from '../output';
import { describe, showLinks } from '../views';
import { FILE_OPTIONS, fileOptions } from './file-options';

export const up: Command = {
  name: 'up',
  usage: `meshnetctl lab up FILE [--no-check] [--name NAME] [--nodes N] [--kubeconfig PATH]
                                      create the lab described by FILE and check its links; FILE is a
                                      lab file or a plain manifest of Topology (and Pod) objects; --name
                                      names the lab (default: the lab file's name, or the manifest's file
                                      name); a manifest's pods are spread over N nodes (default 1);
                                      with --kubeconfig the Topologies live in that Kubernetes API server
                                      (meshnet's CRDs and missing namespaces are created, and removed by down)`,
  options: FILE_OPTIONS,
  async run(p) {
    const file = p.positionals[0];
    if (!file) throw new UsageError('lab up needs a FILE');
    const { opts, kubeconfig } = fileOptions(p);
    const execs: ExecOutcome[] = [];
    const state = await labUp(readLabFile(file, opts), file, { ...(kubeconfig !== undefined ? { kubeconfig } : {}), progress: (l) => out(l), onExec: (o) => execs.push(o) });
    out(describe(state, await containerStates(state)));
    if (execs.length) {
      out('');
      out('EXEC');
      for (const o of execs) {
        out(`  ${o.pod}: ${o.command}  (exit ${o.exitCode})`);
        if (o.output) out(o.output.split('\n').map((l) => `    ${l}`).join('\n'));
      }
    }
    if (p.values['no-check']) return 0;
    return (await showLinks(state, { traffic: true })) ? 0 : 1;
  },
};
