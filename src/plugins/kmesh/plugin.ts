// kmesh-cni: a chained plugin that enrols pods of labelled namespaces into the kmesh data plane.
// ADD passes prevResult through unchanged; for an enrolled pod it first writes the net_cls
// classid kmesh's eBPF programs match on and, for Istio-injected namespaces, the sidecar-bypass
// rules. See README.md for keys, error codes and what each command does.
import { existsSync } from 'node:fs';
import { CHAINED_VERSIONS, CniError, ErrorCode, type CniResult, type PluginContext, type PluginFuncs } from '../../cni';
import { FileLogger, type Logger } from '../../chained/log';
import { CgroupNotFoundError, findPodCgroup, KMESH_CLASSID, readClassid, writeClassid } from './cgroup';
import { KmeshCode } from './codes';
import { parseKmeshConf, type KmeshConf } from './config';
import { decideEnrolment, type Enrolment } from './enrol';
import { IptablesError, PodIptables, type NetnsExec } from './iptables';
import { HttpKubeClient, KubeApiError, type KubeClient } from './kube';
import { KubeConfigError, loadKubeConfig } from './kubeconfig';

export interface KmeshDeps {
  /** Runs a command in a netns (the entry file passes an nsenter-based one). */
  netnsExec: NetnsExec;
}

interface Pod {
  namespace: string;
  name: string;
}

function logger(conf: KmeshConf, ctx: PluginContext): Logger {
  const { command, containerId } = ctx.env;
  const pod = ctx.env.args.K8S_POD_NAMESPACE !== undefined ? `${ctx.env.args.K8S_POD_NAMESPACE}/${ctx.env.args.K8S_POD_NAME ?? ''}` : undefined;
  return new FileLogger(conf.log, { plugin: 'kmesh-cni', command, container: containerId || undefined, pod });
}

function podOf(ctx: PluginContext): Pod | undefined {
  const { K8S_POD_NAME: name, K8S_POD_NAMESPACE: namespace } = ctx.env.args;
  return name && namespace ? { name, namespace } : undefined;
}

function requirePrev(ctx: PluginContext): CniResult {
  const prev = ctx.conf.prevResult;
  if (prev === undefined) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'missing prevResult',
      'kmesh-cni is a chained plugin: list it after a main plugin (e.g. bridge or calico) in a conflist');
  }
  return prev;
}

async function kubeClient(conf: KmeshConf): Promise<KubeClient> {
  try {
    return new HttpKubeClient(await loadKubeConfig(conf.kubeConfig), conf.kubeTimeoutMs);
  } catch (e) {
    if (e instanceof KubeConfigError) throw new CniError(KmeshCode.KubeConfig, 'cannot load kubeconfig', e.message);
    throw e;
  }
}

async function enrolment(conf: KmeshConf, pod: Pod): Promise<Enrolment> {
  const kube = await kubeClient(conf);
  try {
    return await decideEnrolment(kube, pod.namespace, pod.name);
  } catch (e) {
    if (!(e instanceof KubeApiError)) throw e;
    if (e.code === 'Unreachable') throw new CniError(ErrorCode.TryAgainLater, 'Kubernetes API unreachable', e.message);
    if (e.code === 'NotFound') throw new CniError(KmeshCode.KubeApi, 'Kubernetes object not found', e.message);
    throw new CniError(KmeshCode.KubeApi, 'Kubernetes API request failed', e.message);
  }
}

function podCgroup(conf: KmeshConf, ctx: PluginContext, e: Enrolment, pod: Pod): string {
  // The runtime's uid names the sandbox being set up; the API's is the fallback for runtimes
  // that do not send K8S_POD_UID.
  const uid = ctx.env.args.K8S_POD_UID || e.podUid;
  if (uid === '') throw new CniError(KmeshCode.CgroupNotFound, 'pod cgroup not found', `pod ${pod.namespace}/${pod.name} has no uid (no K8S_POD_UID, none from the API)`);
  try {
    return findPodCgroup(conf.netClsRoot, uid);
  } catch (err) {
    if (err instanceof CgroupNotFoundError) throw new CniError(KmeshCode.CgroupNotFound, 'pod cgroup not found', err.message);
    throw err;
  }
}

function iptablesStep<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof IptablesError) throw new CniError(KmeshCode.Iptables, `cannot ${what}`, e.message);
    throw e;
  }
}

export function createKmeshPlugin(deps: KmeshDeps): PluginFuncs {
  return {
    about: 'kmesh-cni: chained CNI plugin enrolling pods of istio.io/dataplane-mode=Kmesh namespaces into kmesh',
    // A chained plugin: it works on the previous plugin's result, which came with CNI 0.3.0.
    versions: CHAINED_VERSIONS,

    async add(ctx) {
      const conf = parseKmeshConf(ctx.conf.raw);
      const prev = requirePrev(ctx);
      const log = logger(conf, ctx);
      const pod = podOf(ctx);
      if (pod === undefined) {
        log.info('no K8S_POD_NAME/K8S_POD_NAMESPACE in CNI_ARGS: not a Kubernetes pod, passing through');
        return prev;
      }
      try {
        const e = await enrolment(conf, pod);
        if (!e.enrolled) {
          log.info(`not enrolled: ${e.reason}`);
          return prev;
        }
        const dir = podCgroup(conf, ctx, e, pod);
        try {
          writeClassid(dir, KMESH_CLASSID);
        } catch (err) {
          throw new CniError(KmeshCode.Cgroup, 'cannot write net_cls.classid', `${dir}/net_cls.classid: ${(err as Error).message}`);
        }
        log.info(`enrolled (${e.reason}): net_cls.classid=0x${KMESH_CLASSID.toString(16)} in ${dir}`);
        if (e.bypassSidecar) {
          const changed = iptablesStep('insert the sidecar-bypass rules', () => new PodIptables(deps.netnsExec, ctx.env.netns, conf.iptables).ensureReturnRules());
          log.info(changed.length > 0 ? `inserted nat RETURN rules at the top of ${changed.join(', ')}` : 'nat RETURN rules already present');
        }
        return prev;
      } catch (err) {
        log.error(err instanceof Error ? err.message : String(err));
        throw err;
      }
    },

    async check(ctx) {
      const conf = parseKmeshConf(ctx.conf.raw);
      requirePrev(ctx);
      const pod = podOf(ctx);
      if (pod === undefined) return;
      const e = await enrolment(conf, pod);
      if (!e.enrolled) return;
      const problems: string[] = [];
      const dir = podCgroup(conf, ctx, e, pod);
      let classid: number;
      try {
        classid = readClassid(dir);
      } catch (err) {
        throw new CniError(KmeshCode.Cgroup, 'cannot read net_cls.classid', `${dir}/net_cls.classid: ${(err as Error).message}`);
      }
      if (classid !== KMESH_CLASSID) problems.push(`${dir}/net_cls.classid is ${classid}, want ${KMESH_CLASSID} (0x${KMESH_CLASSID.toString(16)})`);
      if (e.bypassSidecar) {
        const ipt = new PodIptables(deps.netnsExec, ctx.env.netns, conf.iptables);
        for (const chain of ['PREROUTING', 'OUTPUT']) {
          if (!iptablesStep('read the nat table', () => ipt.startsWithReturn(chain))) problems.push(`nat ${chain} does not start with "-j RETURN"`);
        }
      }
      if (problems.length > 0) throw new CniError(KmeshCode.CheckFailed, 'kmesh enrolment check failed', problems.join('; '));
    },

    // DEL always succeeds. The classid goes away with the pod's cgroup; the RETURN rules are
    // removed when the netns still exists (a DEL after the netns is gone has nothing to undo).
    async del(ctx) {
      let conf: KmeshConf;
      try {
        conf = parseKmeshConf(ctx.conf.raw);
      } catch {
        return; // nothing was ever done with a config ADD would have refused
      }
      const log = logger(conf, ctx);
      const netns = ctx.env.netns;
      if (netns === '' || !existsSync(netns)) {
        log.debug('netns already gone: nothing to undo');
        return;
      }
      try {
        const removed = new PodIptables(deps.netnsExec, netns, conf.iptables).removeReturnRules();
        if (removed.length > 0) log.info(`removed nat RETURN rules from ${removed.join(', ')}`);
      } catch (err) {
        log.warn(`DEL: could not inspect or remove RETURN rules (ignored): ${(err as Error).message}`);
      }
    },
  };
}
