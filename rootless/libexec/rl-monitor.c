/*
 * rl-monitor: what stays resident for a detached rl container, kept small
 * because there is one per container (podman's conmon is the analogue).
 *
 * rl (Python) does all the set-up, then execs this program in place: same
 * pid, same children, same open fds. Two modes:
 *
 *   rl-monitor monitor --pid N [--out FD] [--err FD] [--pty FD] [--stdin FD]
 *                      [--attach FD [--hold FD]] [--winsz FD] [--log PATH] [--log-max BYTES]
 *                      [--journald --journal-field KEY=VALUE...]
 *                      [--health-interval-ms MS --health-limit-ms MS --health-arg ARG...]
 *                      [--exit-file PATH] -- EXIT_COMMAND...
 *       The host side. Pumps the container's pipes or pty into the
 *       k8s-file log (or the journal, one entry per line with the given
 *       fields, as podman's journald driver) and to clients of the attach
 *       socket (framed with the stream each chunk came from; their input
 *       goes to the container's stdin, unframed), forwards signals to N, runs the
 *       healthcheck command on its interval, and when N exits writes its
 *       status to PATH at once (rl's state reads it: no window in which a
 *       dead container shows as running) and execs EXIT_COMMAND with the
 *       status appended: rl again, which records the exit, releases the
 *       network and applies the restart policy. With --hold (a pipe whose
 *       write end the foreground `rl run -it` holds), nothing is read from
 *       the container and its exit is not acted on until the first attach
 *       client connects or the pipe reaches end-of-file: the CLI's attach
 *       sees the container's output from its first byte.
 *
 *   rl-monitor shim --pid N --ppid P [--umount PATH] [--remove DIR]...
 *       The namespace side (root of the container's user namespace), after
 *       it forked PID 1: forwards signals to N, reaps what is orphaned to
 *       it, and when N exits unmounts the rootfs, waits for the storage
 *       helpers (up to 5 s), removes DIRs (--rm) and exits with N's status.
 *
 * Nothing here parses JSON or knows about images: rl passes fds and paths.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 32
#define MAX_ARGS 64
#define BUFSZ 65536

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGALRM, SIGWINCH};
static volatile pid_t target = -1;

static void die(const char *what)
{
    fprintf(stderr, "rl-monitor: %s: %s\n", what, strerror(errno));
    _exit(125);
}

static void forward(int sig)
{
    int saved = errno;  /* the interrupted code may be about to read errno */
    if (target > 0)
        kill(target, sig);
    errno = saved;
}

/* rl blocks these signals before it execs this program (a signal between
 * the exec and here would find the default action: death, and the
 * container's with it); once the handlers are in, what came meanwhile is
 * delivered, and so forwarded */
static void forward_signals(int with_winch)
{
    struct sigaction sa = {.sa_handler = forward, .sa_flags = SA_RESTART};
    sigset_t set;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) {
        if (forwarded[i] != SIGWINCH || with_winch)
            sigaction(forwarded[i], &sa, NULL);
        sigaddset(&set, forwarded[i]);
    }
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void ignore_signals(void)
{
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
        signal(forwarded[i], SIG_IGN);
}

/* 128+signal for a killed process, as a shell reports it */
static int status_code(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static int wait_for(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return 125;
    }
    return status_code(status);
}

static long number(const char *opt, const char *text)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || end == text) {
        fprintf(stderr, "rl-monitor: %s: not a number: %s\n", opt, text);
        _exit(125);
    }
    return v;
}

/* ---- shim ------------------------------------------------------------- */

static void kill_children(void)
{
    char path[64];
    static char buf[65536];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    if (n == (ssize_t)sizeof buf - 1) {  /* cut short: the last pid may be a piece of one */
        char *sp = strrchr(buf, ' ');
        if (sp)
            *sp = 0;
    }
    for (char *p = strtok(buf, " \n"); p; p = strtok(NULL, " \n")) {
        pid_t pid = (pid_t)atoi(p);
        if (pid > 0 && kill(pid, SIGKILL) == 0)
            waitpid(pid, NULL, 0);
    }
}

/* the fuse daemon exits once its mount is gone: give it 5 s, then kill */
static void reap_all(void)
{
    struct timespec start, now, nap = {0, 10 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t got = waitpid(-1, NULL, WNOHANG);
        if (got < 0 && errno == ECHILD)
            return;
        if (got > 0)
            continue;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 5)
            break;
        nanosleep(&nap, NULL);
    }
    kill_children();
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static int shim(int argc, char **argv)
{
    pid_t pid = -1, ppid = -1;
    const char *umount_path = NULL;
    const char *remove[8];
    int nremove = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--pid") && i + 1 < argc)
            pid = (pid_t)number("--pid", argv[++i]);
        else if (!strcmp(argv[i], "--ppid") && i + 1 < argc)
            ppid = (pid_t)number("--ppid", argv[++i]);
        else if (!strcmp(argv[i], "--umount") && i + 1 < argc)
            umount_path = argv[++i];
        else if (!strcmp(argv[i], "--remove") && i + 1 < argc && nremove < 8)
            remove[nremove++] = argv[++i];
        else {
            fprintf(stderr, "rl-monitor shim: unknown argument %s\n", argv[i]);
            return 125;
        }
    }
    if (pid <= 0)
        return 125;
    prctl(PR_SET_NAME, "rl-runtime");
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* re-armed: the monitor's death must still take the container along */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (ppid > 0 && getppid() != ppid)
        raise(SIGKILL);
    target = pid;
    forward_signals(1);
    int code = 125, status;
    for (;;) {
        pid_t got = waitpid(-1, &status, 0);
        if (got == pid) {
            code = status_code(status);
            break;
        }
        if (got < 0 && errno == ECHILD)
            break;
    }
    target = -1;
    ignore_signals();
    if (umount_path)
        umount2(umount_path, MNT_DETACH);
    reap_all();
    for (int i = 0; i < nremove; i++)
        nftw(remove[i], remove_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    return code;
}

/* ---- monitor ---------------------------------------------------------- */

struct log {
    const char *path;
    char rotated[4096];
    int fd;
    long long size, max;
};

static void log_open(struct log *lg)
{
    lg->fd = open(lg->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    lg->size = (lg->fd >= 0 && fstat(lg->fd, &st) == 0) ? st.st_size : 0;
}

static void log_append(struct log *lg, const char *out, size_t n)
{
    if (lg->fd < 0 || n == 0)
        return;
    if (lg->max > 0 && lg->size > 0 && lg->size + (long long)n > lg->max) {
        close(lg->fd);
        rename(lg->path, lg->rotated);  /* one old file kept, as podman bounds the log */
        log_open(lg);
        if (lg->fd < 0)
            return;
    }
    /* whole records or none: a full disk loses log lines, never the
     * container, and leaves no half line for the next record to join */
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(lg->fd, out + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (done && ftruncate(lg->fd, lg->size) < 0) {
                /* nothing better to do: the reader skips a malformed line */
            }
            return;
        }
        done += (size_t)w;
    }
    lg->size += (long long)n;
}

/* podman's k8s-file: "TIMESTAMP STREAM F|P TEXT", F ends a line, P is a
 * piece of one (a read that did not end with a newline) */
static void log_write(struct log *lg, const char *stream, const char *data, size_t len)
{
    static char out[BUFSZ + 4096];
    char stamp[64];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t sl = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + sl, sizeof stamp - sl, ".%09ld+00:00", ts.tv_nsec);
    size_t head = strlen(stamp) + strlen(stream) + 5, n = 0, start = 0;
    while (start < len) {
        const char *nl = memchr(data + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - data) : len;
        size_t piece = end - start;
        if (n + head + piece + 1 > sizeof out) {  /* records never straddle a flush */
            log_append(lg, out, n);
            n = 0;
        }
        n += (size_t)snprintf(out + n, sizeof out - n, "%s %s %c ", stamp, stream, nl ? 'F' : 'P');
        memcpy(out + n, data + start, piece);  /* piece <= BUFSZ: it fits an empty buffer */
        n += piece;
        out[n++] = '\n';
        start = end + 1;
    }
    log_append(lg, out, n);
}

/* the journal's native protocol: one datagram per entry, KEY=VALUE lines;
 * MESSAGE in the binary form (KEY\n, 64-bit little-endian length, data)
 * because the container's bytes are arbitrary */
struct journal {
    int fd;
    char fields[4096];
    size_t fields_len;
};

static void journal_open(struct journal *j)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket"};
    j->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (j->fd >= 0 && connect(j->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(j->fd);
        j->fd = -1;
    }
}

static void journal_field(struct journal *j, const char *kv)
{
    size_t n = strlen(kv);
    if (j->fields_len + n + 1 < sizeof j->fields) {
        memcpy(j->fields + j->fields_len, kv, n);
        j->fields_len += n;
        j->fields[j->fields_len++] = '\n';
    }
}

static void journal_write(struct journal *j, const char *stream, const char *data, size_t len)
{
    if (j->fd < 0)
        return;
    size_t start = 0;
    while (start < len) {
        const char *nl = memchr(data + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - data) : len;
        char head[128];
        int hn = snprintf(head, sizeof head, "PRIORITY=%d\n%sMESSAGE\n", strcmp(stream, "stderr") ? 6 : 3,
                          nl ? "" : "CONTAINER_PARTIAL_MESSAGE=true\n");
        unsigned char size[8];
        uint64_t piece = end - start;
        for (int i = 0; i < 8; i++)
            size[i] = (unsigned char)(piece >> (8 * i));
        struct iovec iov[5] = {
            {j->fields, j->fields_len}, {head, (size_t)hn}, {size, 8},
            {(void *)(data + start), (size_t)piece}, {"\n", 1},
        };
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 5};
        if (sendmsg(j->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && (errno == ECONNREFUSED || errno == ENOTCONN)) {
            close(j->fd);  /* journald restarted: a new socket at the same path */
            journal_open(j);
            if (j->fd < 0)
                return;
            sendmsg(j->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);  /* a busy journal loses lines, never the container */
        }
        if (!nl)
            break;
        start = end + 1;
    }
}

struct monitor {
    pid_t pid;
    int pidfd;
    int out, err, pty, in, listener;
    int clients[MAX_CLIENTS];
    int nclients;
    struct log log;
    int logging;
    struct journal journal;
    int journald;
    long health_interval;  /* ms */
    char *health_argv[MAX_ARGS];
    int health_argc;
    pid_t health_pid;
    int health_pidfd;
    struct timespec health_due;
    long health_limit;  /* ms: a check still running after this is killed */
    struct timespec health_started;
    char pending[BUFSZ];  /* client input the container's stdin has not taken yet */
    size_t plen, poff;
    int winsz;            /* a FIFO of "ROWS COLS" lines from `rl attach`: the pty's size */
    int hold;             /* --hold: output and exit wait for the first client (or this pipe's EOF) */
    char wbuf[64];
    size_t wlen;
};

/* `rl attach` on a terminal writes its size at start and on SIGWINCH,
 * as podman's attach does through conmon */
static void resize(struct monitor *m)
{
    ssize_t n = read(m->winsz, m->wbuf + m->wlen, sizeof m->wbuf - 1 - m->wlen);
    if (n <= 0)
        return;
    m->wlen += (size_t)n;
    m->wbuf[m->wlen] = 0;
    char *line = m->wbuf, *nl;
    while ((nl = strchr(line, '\n'))) {
        *nl = 0;
        unsigned rows, cols;
        if (sscanf(line, "%u %u", &rows, &cols) == 2 && rows && cols && rows < 65536 && cols < 65536) {
            struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
            ioctl(m->pty, TIOCSWINSZ, &ws);
        }
        line = nl + 1;
    }
    m->wlen = strlen(line);
    if (m->wlen == sizeof m->wbuf - 1)  /* no line in it: garbage */
        m->wlen = 0;
    memmove(m->wbuf, line, m->wlen);
}

/* Output to attach clients is framed with the stream it came from, so that
 * `rl attach` writes each to its own fd (podman's conmon marks each chunk
 * with its stream the same way): a 5-byte header, the stream (1 stdout, 2
 * stderr; a pty is one stream, stdout) and the length (32-bit big-endian),
 * then the bytes. Clients' sockets are non-blocking: one that does not keep
 * up (a suspended `rl attach`, a pager) is dropped rather than stalling the
 * container's output, the log and the exit. */
#define FRAME_HEAD 5
static void send_clients(struct monitor *m, int stream, const char *data, size_t len)
{
    unsigned char head[FRAME_HEAD] = {(unsigned char)stream, (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                                      (unsigned char)(len >> 8), (unsigned char)len};
    size_t total = FRAME_HEAD + len;
    for (int i = 0; i < m->nclients;) {
        size_t off = 0;
        while (off < total) {
            struct iovec iov[2];
            int niov = 0;
            if (off < FRAME_HEAD)
                iov[niov++] = (struct iovec){head + off, FRAME_HEAD - off};
            size_t doff = off < FRAME_HEAD ? 0 : off - FRAME_HEAD;
            if (len > doff)
                iov[niov++] = (struct iovec){(void *)(data + doff), len - doff};
            struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
            ssize_t w = sendmsg(m->clients[i], &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        if (off < total) {
            close(m->clients[i]);
            m->clients[i] = m->clients[--m->nclients];
        } else
            i++;
    }
}

/* one read of a stream: 1 data, -1 nothing now, 0 done (EOF, or EIO: the
 * pty's last slave closed) */
static int pump(struct monitor *m, int fd, const char *stream)
{
    static char buf[BUFSZ];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return -1;
    if (n <= 0)
        return 0;
    if (m->logging)
        log_write(&m->log, stream, buf, (size_t)n);
    if (m->journald)
        journal_write(&m->journal, stream, buf, (size_t)n);
    send_clients(m, strcmp(stream, "stderr") ? 1 : 2, buf, (size_t)n);
    return 1;
}

/* what the container's stdin takes now; the rest waits for POLLOUT, and
 * the clients are not read meanwhile (their own sends block instead) */
static void flush_stdin(struct monitor *m)
{
    while (m->poff < m->plen) {
        ssize_t w = write(m->in, m->pending + m->poff, m->plen - m->poff);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        if (w <= 0) {  /* the container closed its stdin: input goes nowhere */
            m->poff = m->plen;
            break;
        }
        m->poff += (size_t)w;
    }
    m->plen = m->poff = 0;
}

static void from_client(struct monitor *m, int i)
{
    ssize_t n = recv(m->clients[i], m->pending, sizeof m->pending, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close(m->clients[i]);
        m->clients[i] = m->clients[--m->nclients];
        return;
    }
    if (m->in >= 0) {
        m->plen = (size_t)n;
        m->poff = 0;
        flush_stdin(m);
    }
}

static long ms_until(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : ms;
}

static void health_schedule(struct monitor *m)
{
    clock_gettime(CLOCK_MONOTONIC, &m->health_due);
    m->health_due.tv_sec += m->health_interval / 1000;
    m->health_due.tv_nsec += (m->health_interval % 1000) * 1000000;
    if (m->health_due.tv_nsec >= 1000000000) {
        m->health_due.tv_sec++;
        m->health_due.tv_nsec -= 1000000000;
    }
}

static void health_start(struct monitor *m)
{
    pid_t pid = fork();
    if (pid < 0) {
        health_schedule(m);
        return;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
            signal(forwarded[i], SIG_DFL);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0)
            dup2(null, 0);
        /* none of the monitor's fds (the container's stdin, the attach
         * socket, network helpers' exit-fds) belong to the check */
#ifdef SYS_close_range
        if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
#endif
            for (int fd = 3; fd < 4096; fd++)
                close(fd);
        execvp(m->health_argv[0], m->health_argv);
        _exit(127);
    }
    m->health_pid = pid;
    clock_gettime(CLOCK_MONOTONIC, &m->health_started);
    m->health_pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (m->health_pidfd < 0) {  /* cannot watch it: wait for it, as `rl healthcheck run` bounds itself */
        waitpid(pid, NULL, 0);
        m->health_pid = -1;
        health_schedule(m);
    }
}

static void health_done(struct monitor *m)
{
    waitpid(m->health_pid, NULL, 0);
    close(m->health_pidfd);
    m->health_pid = -1;
    m->health_pidfd = -1;
    health_schedule(m);
}

static void health_abort(struct monitor *m)
{
    if (m->health_pid > 0) {
        kill(m->health_pid, SIGKILL);
        waitpid(m->health_pid, NULL, 0);
        close(m->health_pidfd);
        m->health_pid = -1;
    }
}

/* what is left in a stream once the container exited; then it is closed
 * (the pty master later: it may be the stdin too), nothing is carried into
 * the exit command */
static void drain(struct monitor *m, int *fd, const char *stream)
{
    if (*fd < 0)
        return;
    fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
    while (pump(m, *fd, stream) > 0)
        ;
    if (*fd != m->pty)
        close(*fd);
    *fd = -1;
}

static long ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static void release_hold(struct monitor *m)
{
    if (m->hold >= 0)
        close(m->hold);
    m->hold = -1;
}

static int supervise(struct monitor *m)
{
    struct pollfd p[8 + MAX_CLIENTS];
    for (;;) {
        int n = 0;
        int held = m->hold >= 0;
        int i_pid = n;
        p[n++] = (struct pollfd){.fd = held ? -1 : m->pidfd, .events = POLLIN};
        int i_out = n;
        p[n++] = (struct pollfd){.fd = held ? -1 : m->out, .events = POLLIN};
        int i_err = n;
        p[n++] = (struct pollfd){.fd = held ? -1 : m->err, .events = POLLIN};
        int i_hold = n;
        p[n++] = (struct pollfd){.fd = m->hold, .events = POLLIN};
        int i_lis = n;
        p[n++] = (struct pollfd){.fd = m->listener, .events = POLLIN};
        int i_hc = n;
        p[n++] = (struct pollfd){.fd = m->health_pid > 0 ? m->health_pidfd : -1, .events = POLLIN};
        int i_in = n;
        p[n++] = (struct pollfd){.fd = m->plen ? m->in : -1, .events = POLLOUT};
        int i_ws = n;
        p[n++] = (struct pollfd){.fd = m->pty >= 0 ? m->winsz : -1, .events = POLLIN};
        int i_cl = n;
        for (int i = 0; i < m->nclients; i++)
            p[n++] = (struct pollfd){.fd = m->clients[i], .events = m->plen ? 0 : POLLIN};
        int timeout = -1;
        if (m->health_interval > 0 && m->health_pid <= 0)
            timeout = (int)ms_until(&m->health_due);
        else if (m->health_pid > 0 && m->health_limit > 0) {
            long left = m->health_limit - ms_since(&m->health_started);
            timeout = left < 0 ? 0 : (int)left;
        }
        int r = poll(p, (nfds_t)n, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (p[i_hold].revents) {  /* the CLI gave up (or died) before attaching */
            char c;
            if (read(m->hold, &c, 1) <= 0)
                release_hold(m);
        }
        if (p[i_out].revents && pump(m, m->out, "stdout") == 0) {
            if (m->out != m->pty)
                close(m->out);
            m->out = -1;
        }
        if (p[i_err].revents && pump(m, m->err, "stderr") == 0) {
            close(m->err);
            m->err = -1;
        }
        if (p[i_in].revents)
            flush_stdin(m);
        if (p[i_ws].revents)
            resize(m);
        if (p[i_lis].revents & POLLIN) {
            int c = accept4(m->listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c >= 0) {
                if (m->nclients < MAX_CLIENTS)
                    m->clients[m->nclients++] = c;
                else
                    close(c);
                release_hold(m);
            }
        }
        /* clients last: from_client may reorder the array */
        for (int i = n - 1; i >= i_cl; i--)
            if (p[i].revents && !m->plen)
                from_client(m, i - i_cl);
        if (m->health_pid > 0 && p[i_hc].revents)
            health_done(m);
        else if (m->health_pid > 0 && m->health_limit > 0 && ms_since(&m->health_started) > m->health_limit) {
            kill(m->health_pid, SIGKILL);  /* a hung check (a stuck lock): the next one runs on time */
            health_done(m);
        }
        else if (m->health_interval > 0 && m->health_pid <= 0 && ms_until(&m->health_due) == 0)
            health_start(m);
        if (p[i_pid].revents)
            break;
    }
    health_abort(m);
    drain(m, &m->out, "stdout");
    drain(m, &m->err, "stderr");
    for (int i = 0; i < m->nclients; i++)
        close(m->clients[i]);
    m->nclients = 0;
    return wait_for(m->pid);
}

/* atomically: a reader sees no file or the whole status */
static void write_exit_file(const char *path, int code)
{
    char tmp[4096], text[16];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return;
    unlink(tmp);  /* a leftover, or anything planted: never written through */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    int n = snprintf(text, sizeof text, "%d\n", code);
    int ok = write(fd, text, (size_t)n) == n;
    close(fd);
    if (!ok || rename(tmp, path) < 0)
        unlink(tmp);  /* a full disk: rl's state falls back on this process's death */
}

static int monitor(int argc, char **argv)
{
    struct monitor m = {.pid = -1, .out = -1, .err = -1, .pty = -1, .in = -1, .listener = -1,
                        .health_pid = -1, .health_pidfd = -1, .winsz = -1, .hold = -1};
    char **exit_argv = NULL;
    int exit_argc = 0;
    const char *exit_file = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--")) {
            exit_argv = argv + i + 1;
            exit_argc = argc - i - 1;
            break;
        }
        if (!strcmp(a, "--journald")) {
            m.journald = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "rl-monitor: %s needs a value\n", a);
            return 125;
        }
        i++;
        if (!strcmp(a, "--pid"))
            m.pid = (pid_t)number(a, v);
        else if (!strcmp(a, "--out"))
            m.out = (int)number(a, v);
        else if (!strcmp(a, "--err"))
            m.err = (int)number(a, v);
        else if (!strcmp(a, "--pty"))
            m.pty = m.out = (int)number(a, v);
        else if (!strcmp(a, "--stdin"))
            m.in = (int)number(a, v);
        else if (!strcmp(a, "--attach"))
            m.listener = (int)number(a, v);
        else if (!strcmp(a, "--winsz"))
            m.winsz = (int)number(a, v);
        else if (!strcmp(a, "--hold"))
            m.hold = (int)number(a, v);
        else if (!strcmp(a, "--log")) {
            m.log.path = v;
            m.logging = 1;
        } else if (!strcmp(a, "--log-max"))
            m.log.max = number(a, v);
        else if (!strcmp(a, "--health-interval-ms"))
            m.health_interval = number(a, v);
        else if (!strcmp(a, "--health-limit-ms"))
            m.health_limit = number(a, v);
        else if (!strcmp(a, "--journal-field"))
            journal_field(&m.journal, v);
        else if (!strcmp(a, "--exit-file"))
            exit_file = v;
        else if (!strcmp(a, "--health-arg") && m.health_argc < MAX_ARGS - 1)
            m.health_argv[m.health_argc++] = (char *)v;
        else {
            fprintf(stderr, "rl-monitor: unknown argument %s\n", a);
            return 125;
        }
    }
    if (m.listener < 0)
        release_hold(&m);  /* no client can ever come */
    if (m.pid <= 0 || exit_argc == 0 || exit_argc > MAX_ARGS - 2) {
        fprintf(stderr, "rl-monitor: --pid and an exit command are required\n");
        return 125;
    }
    prctl(PR_SET_NAME, "rl-monitor");
    signal(SIGPIPE, SIG_IGN);
    m.pidfd = (int)syscall(SYS_pidfd_open, m.pid, 0);
    if (m.pidfd < 0)
        die("pidfd_open");
    if (m.logging) {
        snprintf(m.log.rotated, sizeof m.log.rotated, "%s.1", m.log.path);
        log_open(&m.log);
    }
    if (m.journald)
        journal_open(&m.journal);
    if (m.in >= 0)
        fcntl(m.in, F_SETFL, fcntl(m.in, F_GETFL) | O_NONBLOCK);
    if (m.health_argc == 0)
        m.health_interval = 0;
    if (m.health_interval > 0)
        health_schedule(&m);
    target = m.pid;
    forward_signals(m.pty < 0);
    int code = supervise(&m);
    target = -1;
    if (exit_file)
        write_exit_file(exit_file, code);
    if (m.pty >= 0)
        close(m.pty);
    if (m.in >= 0 && m.in != m.pty)
        close(m.in);
    if (m.listener >= 0)
        close(m.listener);
    if (m.winsz >= 0)
        close(m.winsz);
    if (m.logging && m.log.fd >= 0)
        close(m.log.fd);
    close(m.pidfd);
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
        signal(forwarded[i], SIG_DFL);
    char status[16];
    snprintf(status, sizeof status, "%d", code);
    char *args[MAX_ARGS];
    for (int i = 0; i < exit_argc; i++)
        args[i] = exit_argv[i];
    args[exit_argc] = status;
    args[exit_argc + 1] = NULL;
    execv(args[0], args);
    fprintf(stderr, "rl-monitor: cannot run %s: %s\n", args[0], strerror(errno));
    return code;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "monitor"))
        return monitor(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "shim"))
        return shim(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--version")) {
        puts("rl-monitor 1");
        return 0;
    }
    fprintf(stderr, "usage: rl-monitor monitor|shim ... (started by rl, not by hand)\n");
    return 125;
}
