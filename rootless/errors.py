"""Typed errors. Every failure a user can see is an RlError with a message, an
optional hint (the fix), and a podman-style exit code. Imports nothing from
the package so any module may raise these."""

from __future__ import annotations

# podman's conventions: 125 the tool failed, 126 the command cannot be
# invoked, 127 the command was not found, else the container's own status.
EXIT_RL = 125
EXIT_CANNOT_INVOKE = 126
EXIT_NOT_FOUND = 127


class RlError(Exception):
    exit_code = EXIT_RL

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        # errors cross process boundaries (pickled from forked children)
        return (_rebuild, (type(self), self.message, self.hint, self.exit_code))


def _rebuild(cls, message, hint, exit_code):
    err = cls.__new__(cls)
    RlError.__init__(err, message, hint, exit_code)
    return err


class UsageError(RlError):
    """Bad flags or arguments."""


class HostSetupError(RlError):
    """The host is not ready for rootless containers (IDs, devices, sysctls)."""


class ToolMissing(HostSetupError):
    """An external helper binary is not installed."""


class ImageError(RlError):
    """Image references, registries, the image store."""


class ImageNotFound(ImageError):
    pass


class RegistryError(ImageError):
    pass


class ContainerError(RlError):
    """Container records and lifecycle."""


class ContainerNotFound(ContainerError):
    pass


class ContainerDamaged(ContainerError):
    """Its config.json is missing or corrupt: only stop, kill and rm act on it."""


class InUse(RlError):
    """A container that runs, an image a container uses: `rm`/`rmi` exit 2 for
    these (podman's documented statuses), where a missing one is 1."""


class ContainerRunning(InUse, ContainerError):
    pass


class ImageInUse(InUse, ImageError):
    pass


def removal_status(errors: list) -> int:
    """podman rm/rmi: 2 when one was in use (running, or needed by a
    container), else 1 when each failure was "no such", else 125."""
    if any(isinstance(e, InUse) for e in errors):
        return 2
    if errors and all(isinstance(e, (ContainerNotFound, ImageNotFound)) for e in errors):
        return 1
    return EXIT_RL


class VolumeError(RlError):
    """Named volumes."""


class VolumeNotFound(VolumeError):
    pass


class RuntimeSetupError(RlError):
    """Building the container's namespaces, mounts or security failed."""


class CommandNotFound(RlError):
    exit_code = EXIT_NOT_FOUND


class CommandNotExecutable(RlError):
    exit_code = EXIT_CANNOT_INVOKE


class ExitStatus(Exception):
    """Not an error: a command's answer is its exit status (`rl image exists`,
    `rl system check`); the CLI exits with it and prints nothing."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class ContainerExit(ExitStatus):
    """The container's own exit status, carried to the CLI."""
