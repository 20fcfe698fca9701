// meshnetd, first slice: the node daemon serving the meshnet plugin's CNI calls on its local
// socket (the exec shim forwards them), so a call costs the plumbing, not a Node start-up.
// Cross-node links (VXLAN, grpc-wire), the gRPC API and reconciliation come next.
import { cniSocketPath, listenCniSocket } from './cni-socket';
import { meshnetPlugin } from '../plugins/meshnet/plugin';

const USAGE = `usage: meshnetd [--node NAME] [--lab NAME]
  Serves the meshnet CNI plugin on /run/meshnet/meshnet-<netns inode>.sock for the network
  namespace it runs in (run it in the node's netns, as a hostNetwork DaemonSet does).
  --node and --lab only label log lines and let "meshnetctl lab down" find lab daemons.`;

export async function main(argv: string[]): Promise<number> {
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if ((a === '--node' || a === '--lab') && argv[i + 1] !== undefined) {
      opts[a.slice(2)] = argv[++i]!;
      continue;
    }
    process.stderr.write(`meshnetd: unknown argument ${JSON.stringify(a)}\n${USAGE}\n`);
    return 2;
  }
  const tag = opts.node ? `[${opts.node}] ` : '';
  const log = (s: string) => process.stderr.write(`${new Date().toISOString()} ${tag}${s}\n`);
  const path = cniSocketPath('meshnet');
  const server = await listenCniSocket(path, meshnetPlugin, log);
  log(`meshnetd ${process.pid} serving CNI calls on ${path}`);
  await new Promise<void>((resolveStop) => {
    const stop = (sig: string) => {
      log(`${sig}: shutting down`);
      resolveStop();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await server.close();
  return 0;
}
