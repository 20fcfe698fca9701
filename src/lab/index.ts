export * from './lab';
export * from './labfile';
export * from './checks';
export * from './state';
export * from './names';
export { startPod, stopPod, checkPod, invocation } from './runtime';
export { labDaemonPids, nodeWires, restartDaemon, stopDaemons } from './daemons';
export { labProxyPids } from './daemons';
export { startApiProxy } from './api-proxy';
