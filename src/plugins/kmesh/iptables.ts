// The sidecar-bypass rules in the pod's netns: "-t nat -I PREROUTING 1 -j RETURN" and the same
// for OUTPUT, so an Istio sidecar's redirect rules (added later by istio-init) never see traffic
// that kmesh handles. Kept idempotent: a rule is inserted only when the chain does not already
// start with it.
//
// Why a child process here, when everything else in the plugins is in-process: iptables rules
// are written through the iptables/nftables userspace ABI (an x_tables blob via setsockopt for
// legacy, an nftables ruleset in the iptables-nft encoding for nft), and which one the node uses
// is the node's choice. Re-implementing either in TypeScript to add two rules per enrolled pod is
// not worth the risk; the node's own `iptables` binary, run with `nsenter --net=<pod netns>`,
// writes exactly what the node's tooling (and istio-init) will read back. The process spawning
// itself is injected (NetnsExec) from the entry file, so src/plugins keeps no child_process.
import { MeshnetError } from '../../errors';
export const RETURN_CHAINS = ['PREROUTING', 'OUTPUT'] as const;

export interface ExecResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs argv inside the network namespace at `netnsPath`; `error` set when it could not start. */
export type NetnsExec = (netnsPath: string, argv: string[]) => ExecResult & { error?: string };

export class IptablesError extends MeshnetError {
  readonly code = 'IptablesFailed';
}

export class PodIptables {
  constructor(private readonly exec: NetnsExec, private readonly netns: string, private readonly bin: string) {}

  private run(args: string[]): string {
    const argv = [this.bin, '-w', '5', '-t', 'nat', ...args];
    const r = this.exec(this.netns, argv);
    if (r.error !== undefined) throw new IptablesError(`${argv.join(' ')} in netns ${this.netns}: ${r.error}`);
    if (r.status !== 0) throw new IptablesError(`${argv.join(' ')} in netns ${this.netns} exited ${r.status}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** The rules of one chain of the nat table, as `iptables -S` prints them ("-A OUTPUT -j RETURN"). */
  rules(chain: string): string[] {
    return this.run(['-S', chain]).split('\n').filter((l) => l.startsWith(`-A ${chain} `));
  }

  startsWithReturn(chain: string): boolean {
    return this.rules(chain)[0] === `-A ${chain} -j RETURN`;
  }

  /** Inserts the RETURN rules where missing; returns the chains changed. */
  ensureReturnRules(): string[] {
    const changed: string[] = [];
    for (const chain of RETURN_CHAINS) {
      if (this.startsWithReturn(chain)) continue;
      this.run(['-I', chain, '1', '-j', 'RETURN']);
      changed.push(chain);
    }
    return changed;
  }

  /** Deletes one RETURN rule per chain when the chain starts with it; returns the chains changed. */
  removeReturnRules(): string[] {
    const changed: string[] = [];
    for (const chain of RETURN_CHAINS) {
      if (!this.startsWithReturn(chain)) continue;
      this.run(['-D', chain, '1']);
      changed.push(chain);
    }
    return changed;
  }
}
