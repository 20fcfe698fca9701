/*
 * pause: the process that holds a pod sandbox's namespaces, for the lab's containerd pods. A
 * kubelet's sandbox image (registry.k8s.io/pause) is the same idea; no registry is reachable from
 * a lab machine, so scripts/build.mjs compiles this one (statically) and the lab packs it into an
 * OCI image of its own (src/runtime/pause-image.ts). It sleeps until SIGINT or SIGTERM and reaps
 * any child that is re-parented to it (it is PID 1 of the sandbox's PID namespace).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction q, r;
  memset(&q, 0, sizeof q);
  memset(&r, 0, sizeof r);
  q.sa_handler = quit;
  r.sa_handler = reap;
  r.sa_flags = SA_NOCLDSTOP;
  if (sigaction(SIGINT, &q, NULL) < 0 || sigaction(SIGTERM, &q, NULL) < 0 || sigaction(SIGCHLD, &r, NULL) < 0) return 1;
  for (;;) pause();
}
