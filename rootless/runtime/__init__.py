"""The container runtime: what crun does, for rootless containers.

    spec.py      what to run (built by rootless.containers, no images here)
    create.py    host side: fork, ID maps, slirp4netns, pty pump, signals, status
    parent.py    user-namespace side: mounts the rootfs (before the PID
                 namespace: fuse-overlayfs must not become its PID 1), unshares
                 pid/net/uts/ipc/cgroup, forks PID 1, waits, unmounts
    exec.py      `rl exec`: setns into a running container (user first), fork, same security
    keepid.py    --userns=keep-id: a nested namespace + fuse ID mapping
    child.py     PID 1 until exec: own mount namespace (pivot_root must not
                 move the fuse daemon), rootfs world, pivot_root, user lookup,
                 privileges dropped, exec; imports nothing after pivot_root
    mounts.py    /proc, /dev, /sys, volumes, tmpfs, masked/read-only paths
    security.py  podman's capabilities and seccomp profile, no_new_privs
    users.py     --user against the container's own passwd/group
    tty.py       -t: raw host terminal, window size; without -t the pipes rl relays
    init.py      --init's fallback PID 1 when no catatonit/tini-static (non-dumpable)
    userns.py, idmap.py  the user namespace primitive and subordinate-ID maths
"""
