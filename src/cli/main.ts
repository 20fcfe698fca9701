// meshnetctl: the lab (one module per command under lab/) and the demo. This file finds the
// command, parses its flags (command.ts) and turns failures into exit codes: 2 for a usage error
// (with the usage), 1 for anything else (its message).
import { versionLine } from '../build';
import { UsageError } from '../errors';
import { parse, type Command } from './command';
import { demo } from './demo';
import { apiProxy } from './lab/api-proxy';
import { apply } from './lab/apply';
import { capture } from './lab/capture';
import { check } from './lab/check';
import { down } from './lab/down';
import { exec } from './lab/exec';
import { exportLab } from './lab/export';
import { graph } from './lab/graph';
import { image } from './lab/image';
import { impair } from './lab/impair';
import { link } from './lab/link';
import { restartDaemon } from './lab/restart-daemon';
import { status } from './lab/status';
import { up } from './lab/up';
import { wires } from './lab/wires';
import { out } from './output';

/** The lab's commands, in the order --help lists them (api-proxy is internal: not listed). */
const LAB: Command[] = [up, apply, status, check, exec, wires, capture, link, impair, graph, image, exportLab, restartDaemon, down];

const USAGE = `usage:\n${[demo, ...LAB].map((c) => `  ${c.usage}`).join('\n')}\n  meshnetctl --version                print the version`;

const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h');

async function run(cmd: Command, args: string[]): Promise<number> {
  // A raw command's own flags end at `--` (what follows is the command line it runs).
  if (wantsHelp(cmd.raw && args.includes('--') ? args.slice(0, args.indexOf('--')) : args)) {
    out(`usage: ${cmd.usage}`);
    return 0;
  }
  return cmd.run(cmd.raw ? { values: {}, positionals: [] } : parse(cmd, args), args);
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  /** The command being run: a usage error shows its usage rather than every command's. */
  let current: Command | undefined;
  try {
    if (name === '--version') { out(versionLine('meshnetctl')); return 0; }
    if (name === 'demo') return await run((current = demo), args);
    if (name === 'lab') {
      const [sub, ...rest] = args;
      if (sub === undefined || sub === '--help' || sub === '-h') {
        if (sub === undefined) throw new UsageError('lab needs a command');
        out(USAGE);
        return 0;
      }
      const cmd = [...LAB, apiProxy].find((c) => c.name === sub);
      if (!cmd) throw new UsageError(`unknown lab command "${sub}"`);
      return await run((current = cmd), rest);
    }
    if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
      out(USAGE);
      return name === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command "${name}"`);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`meshnetctl: ${e.message}\n${current ? `usage: ${current.usage}` : USAGE}\n`);
      return 2;
    }
    process.stderr.write(`meshnetctl: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
