// Error codes of kmesh-cni (the CNI spec leaves 100+ to plugins). Stable: the README lists them.
// Config errors use the spec's 7, a missing prevResult 6... see README "Errors".
export const KmeshCode = {
  /** The Kubernetes API answered, but not with what the plugin needs (401/403, 404, bad JSON, 5xx). */
  KubeApi: 100,
  /** The pod's net_cls cgroup directory was not found under netClsRoot. */
  CgroupNotFound: 101,
  /** Writing or reading net_cls.classid failed. */
  Cgroup: 102,
  /** An iptables command in the pod's netns failed (or iptables/nsenter are missing). */
  Iptables: 103,
  /** CHECK found the enrolment missing or different; details list every difference. */
  CheckFailed: 104,
  /** The kubeconfig named by kubeConfig could not be read or has no usable cluster/user. */
  KubeConfig: 105,
} as const;
