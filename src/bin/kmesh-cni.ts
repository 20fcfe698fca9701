// CNI plugin entry. The only process spawning of kmesh-cni lives here (see plugins/kmesh/iptables.ts
// for why iptables is exec'd): `nsenter --net=<netns> -- <argv>`.
import { spawnSync } from 'node:child_process';
import { runPlugin } from '../cni';
import { createKmeshPlugin } from '../plugins/kmesh/plugin';

const plugin = createKmeshPlugin({
  netnsExec(netns, argv) {
    const r = spawnSync('nsenter', [`--net=${netns}`, '--', ...argv], { encoding: 'utf8', timeout: 15_000 });
    const base = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    return r.error !== undefined ? { ...base, error: r.error.message } : base;
  },
});
runPlugin(plugin).then((code) => { process.exitCode = code; });
