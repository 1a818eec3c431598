"""systemd integration: unit files for containers (`rl generate systemd`),
the Quadlet-style generator (`rl-generator`), sd_notify. Imports no cli."""
