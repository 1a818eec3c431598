"""rl: rootless, daemonless containers."""

__version__ = "0.1.0"
