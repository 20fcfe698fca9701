/*
 * cni-shim: the exec-time front of a TypeScript CNI plugin.
 *
 * Why it exists: a runtime execs a CNI plugin per call, and Node.js alone takes ~30 ms to start
 * here (+12 ms to load koffi), three times the whole ADD of the Go `bridge` plugin. The plugin's
 * logic runs in the long-lived node daemon (meshnetd), which already has Node warm; this shim
 * only forwards the call there. It holds NO plugin logic: it copies the CNI_* variables and
 * stdin to the daemon and the daemon's stdout and exit code back.
 *
 * Daemon socket: /run/meshnet/<plugin>-<netns inode>.sock, where <plugin> is this binary's name
 * and <netns inode> is the inode of the network namespace the shim runs in. A runtime runs
 * plugins in the node's netns, where the node's daemon runs too, so both compute the same path
 * (and several emulated nodes on one machine each find their own daemon).
 *
 * Fallback: when no daemon listens (not started, restarting), the shim execs the same plugin
 * compiled to JavaScript, <dir of this binary>/../lib/<plugin>-plugin.cjs, with the same
 * environment and stdin, so the plugin works without the daemon, only slower. Where that build
 * or Node.js is not there (a cluster node: meshnetd's installer copies only this shim), the shim
 * answers a CNI error naming the daemon, code 11 "try again later", and the runtime retries.
 *
 * A DEL is the exception: it must not fail because the daemon is away (a runtime runs the chain's
 * DELs in reverse, so ours failing would keep the primary plugin's DEL from running: its lease
 * and host veth would leak at every retry). The pod's own interfaces die with its netns; what
 * else the DEL must do (far ends, wire records, the pod's status) is left for the daemon: the
 * request is written, whole, to /run/meshnet/<plugin>-<netns inode>.deferred/ and the DEL
 * succeeds. meshnetd runs each deferred DEL when it starts (src/daemon/deferred-del.ts).
 *
 * Wire format (version 1), request:  "MNC1\n" { "KEY=VALUE\n" } "\n" <stdin bytes> EOF(shutdown)
 *                           response: "<exit code>\n" <stdout bytes> EOF
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef NODE_BIN
#define NODE_BIN "/usr/bin/node"
#endif
#define SOCKET_DIR "/run/meshnet"

/* Stamped by scripts/build.mjs; a compile by hand says "dev". */
#ifndef MESHNET_VERSION
#define MESHNET_VERSION "dev"
#endif
#ifndef MESHNET_COMMIT
#define MESHNET_COMMIT "dev"
#endif

static const char *const FORWARDED[] = {
  "CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", NULL,
};

struct buf { char *p; size_t len, cap; };

static int buf_add(struct buf *b, const char *s, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

static int read_all(int fd, struct buf *b) {
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (buf_add(b, chunk, (size_t)n) < 0) return -1;
  }
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* A JSON string body: paths and strerror() text may hold quotes or backslashes. */
static void json_str(const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
}

/* A CNI error result on stdout, as the spec wants when the plugin fails. */
static int fail(int code, const char *msg, const char *details) {
  printf("{\"cniVersion\":\"1.0.0\",\"code\":%d,\"msg\":\"", code);
  json_str(msg);
  printf("\",\"details\":\"");
  json_str(details);
  printf("\"}\n");
  return 1;
}

static void self_paths(const char **name, char *dir, size_t dirlen) {
  static char exe[PATH_MAX], base[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = 0;
  snprintf(base, sizeof base, "%s", exe);
  *name = basename(base);
  snprintf(dir, dirlen, "%s", dirname(exe));
}

/* The node binary to run the JavaScript build with: NODE_BIN, else "node" in PATH; NULL if neither. */
static const char *find_node(char *out, size_t outlen) {
  if (access(NODE_BIN, X_OK) == 0) return NODE_BIN;
  const char *path = getenv("PATH");
  if (!path) return NULL;
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path);
  for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(out, outlen, "%s/node", *d ? d : ".");
    if (access(out, X_OK) == 0) return out;
  }
  return NULL;
}

static int exec_fallback(const char *name, const char *dir, const struct buf *in, const char *sock);

/* Whether the JavaScript build of the plugin and Node.js are there to run it (a development tree, the lab). */
static int has_fallback(const char *name, const char *dir) {
  char script[PATH_MAX], nodebuf[PATH_MAX];
  if (snprintf(script, sizeof script, "%s/../lib/%s-plugin.cjs", dir, name) >= (int)sizeof script) return 0;
  return access(script, R_OK) == 0 && find_node(nodebuf, sizeof nodebuf) != NULL;
}

/*
 * Leaves a DEL for the daemon: the request, as it would have been sent, in a file of the daemon's
 * deferred directory (written under a temporary name, then renamed: the daemon never reads half
 * a request). Returns 0 when it is there.
 */
static int defer_del(const char *sock, const struct buf *req) {
  char dir[PATH_MAX], tmp[PATH_MAX + 64], final[PATH_MAX + 64];
  size_t n = strlen(sock);
  if (n < 5 || n - 5 >= sizeof dir) return -1;
  /* <plugin>-<inode>.sock -> <plugin>-<inode>.deferred */
  snprintf(dir, sizeof dir, "%.*s.deferred", (int)(n - 5), sock);
  if (mkdir(SOCKET_DIR, 0700) < 0 && errno != EEXIST) return -1;
  if (mkdir(dir, 0700) < 0 && errno != EEXIST) return -1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(tmp, sizeof tmp, "%s/.%lld%09ld-%d.tmp", dir, (long long)ts.tv_sec, ts.tv_nsec, (int)getpid());
  snprintf(final, sizeof final, "%s/%lld%09ld-%d.req", dir, (long long)ts.tv_sec, ts.tv_nsec, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (write_all(fd, req->p, req->len) < 0 || fsync(fd) < 0) {
    close(fd);
    unlink(tmp);
    return -1;
  }
  close(fd);
  if (rename(tmp, final) < 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* No daemon: a DEL is deferred to it and succeeds; anything else falls back (or answers 11). */
static int no_daemon(const char *name, const char *dir, const struct buf *in, const char *sock, const struct buf *req) {
  const char *cmd = getenv("CNI_COMMAND");
  if (cmd && strcmp(cmd, "DEL") == 0 && !has_fallback(name, dir)) {
    if (defer_del(sock, req) == 0) return 0;
    return fail(11, "meshnetd is not running on this node, and the DEL could not be left for it", strerror(errno));
  }
  return exec_fallback(name, dir, in, sock);
}

/* Runs the JavaScript build of the plugin with the stdin we already consumed. */
static int exec_fallback(const char *name, const char *dir, const struct buf *in, const char *sock) {
  char script[PATH_MAX], nodebuf[PATH_MAX];
  snprintf(script, sizeof script, "%s/../lib/%s-plugin.cjs", dir, name);
  const char *node = access(script, R_OK) == 0 ? find_node(nodebuf, sizeof nodebuf) : NULL;
  if (!node) {
    char details[2 * PATH_MAX + 160];
    snprintf(details, sizeof details, "no meshnetd answers on %s (is the meshnet DaemonSet pod running on this node?) and %s",
             sock, access(script, R_OK) < 0 ? "there is no standalone plugin to run instead" : "Node.js is not installed to run the standalone plugin");
    return fail(11, "meshnetd is not running on this node", details);
  }
  int mfd = memfd_create("cni-stdin", 0);
  if (mfd < 0 || write_all(mfd, in->p ? in->p : "", in->len) < 0 || lseek(mfd, 0, SEEK_SET) < 0 ||
      dup2(mfd, 0) < 0) {
    return fail(999, "cni-shim: cannot pass stdin to the plugin", strerror(errno));
  }
  close(mfd);
  char *argv_node[] = {"node", script, NULL};
  execv(node, argv_node);
  return fail(11, "meshnetd is not running on this node", strerror(errno));
}

int main(int argc, char **argv) {
  const char *name;
  char dir[PATH_MAX];
  self_paths(&name, dir, sizeof dir);
  /* A runtime passes no arguments; a human asking for the version gets it without a daemon. */
  if (argc > 1 && strcmp(argv[1], "--version") == 0) {
    printf("%s %s (commit %s, exec shim)\n", name, MESHNET_VERSION, MESHNET_COMMIT);
    return 0;
  }

  struct buf in = {0};
  if (read_all(0, &in) < 0) return fail(5, "cni-shim: reading stdin failed", strerror(errno));

  struct stat ns;
  if (stat("/proc/self/ns/net", &ns) < 0) return exec_fallback(name, dir, &in, "(no /proc/self/ns/net)");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, SOCKET_DIR "/%s-%lu.sock", name, (unsigned long)ns.st_ino);

  struct buf req = {0};
  buf_add(&req, "MNC1\n", 5);
  for (const char *const *k = FORWARDED; *k; k++) {
    const char *v = getenv(*k);
    if (!v) continue;
    /* A newline would break the framing; let the full plugin report the bad value. */
    if (strchr(v, '\n')) return exec_fallback(name, dir, &in, addr.sun_path);
    buf_add(&req, *k, strlen(*k));
    buf_add(&req, "=", 1);
    buf_add(&req, v, strlen(v));
    buf_add(&req, "\n", 1);
  }
  buf_add(&req, "\n", 1);
  if (in.len) buf_add(&req, in.p, in.len);

  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
    if (s >= 0) close(s);
    return no_daemon(name, dir, &in, addr.sun_path, &req); /* no daemon: defer a DEL, run the plugin ourselves */
  }
  struct buf resp = {0};
  const char *cmd = getenv("CNI_COMMAND");
  int is_del = cmd && strcmp(cmd, "DEL") == 0;
  if (write_all(s, req.p, req.len) < 0 || shutdown(s, SHUT_WR) < 0 || read_all(s, &resp) < 0) {
    close(s);
    /* The daemon went away mid-call: a DEL is left for its successor (DEL is idempotent). */
    if (is_del && defer_del(addr.sun_path, &req) == 0) return 0;
    return fail(11, "meshnetd connection failed", strerror(errno));
  }
  close(s);
  char *nl = resp.len ? memchr(resp.p, '\n', resp.len) : NULL;
  if (!nl) {
    if (is_del && defer_del(addr.sun_path, &req) == 0) return 0;
    return fail(11, "meshnetd closed the connection without an answer", "the daemon may be restarting; try again");
  }
  *nl = 0;
  int code = atoi(resp.p);
  size_t off = (size_t)(nl - resp.p) + 1;
  if (write_all(1, resp.p + off, resp.len - off) < 0) return 1;
  return code;
}
