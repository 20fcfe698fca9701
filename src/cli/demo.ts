import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LabError, labDown, labUp, readLabFile } from '../lab';
import type { Command } from './command';
import { FILE_OPTIONS, fileOptions } from './lab/file-options';
import { out } from './output';
import { describe, showLinks } from './views';

/** The triangle shipped with the project: next to dist/ when bundled, or in the repo. */
function defaultDemoFile(): string {
  const candidates = [
    process.argv[1] ? join(dirname(resolve(process.argv[1])), '..', 'examples', 'triangle.yaml') : '',
    resolve('examples/triangle.yaml'),
  ];
  const f = candidates.find((c) => c && existsSync(c));
  if (!f) throw new LabError(`examples/triangle.yaml not found (looked in ${candidates.join(', ')})`);
  return f;
}

export const demo: Command = {
  name: 'demo',
  usage: 'meshnetctl demo [--keep] [FILE]     bring up the 3-pod triangle (or FILE), prove every link, tear down',
  options: { ...FILE_OPTIONS, keep: { type: 'boolean' } },
  async run(p) {
    const { opts, kubeconfig } = fileOptions(p);
    const file = p.positionals[0] ?? defaultDemoFile();
    const spec = readLabFile(file, opts);
    const t0 = performance.now();
    out(`bringing up lab "${spec.name}": ${spec.nodes.length} node(s), ${spec.pods.length} pods, ` +
      `${spec.topologies.reduce((n, t) => n + t.spec.links.length, 0) / 2} links`);
    const state = await labUp(spec, file, kubeconfig !== undefined ? { kubeconfig } : {});
    let ok = false;
    try {
      out(`up in ${(performance.now() - t0).toFixed(0)} ms`);
      out('');
      out(describe(state));
      ok = await showLinks(state, { traffic: true });
    } finally {
      if (p.values.keep) {
        out(`\nlab kept up: try "node dist/meshnetctl lab status ${spec.name}", "node dist/meshnetctl lab exec ${spec.name} ${state.pods[0]?.name ?? 'POD'} -- ip addr", then "node dist/meshnetctl lab down ${spec.name}"`);
      } else {
        const r = await labDown(spec.name);
        out(`\nlab down: removed ${r.removedNetns} network namespaces, stopped ${r.daemonsStopped} meshnetd` + (r.podErrors.length ? `; DEL errors: ${r.podErrors.join('; ')}` : '')
          + (r.apiErrors.length ? `; API errors: ${r.apiErrors.join('; ')}` : ''));
      }
    }
    return ok ? 0 : 1;
  },
};
