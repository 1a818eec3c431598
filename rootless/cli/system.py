"""`rl info`, `rl system check`: is this host ready for rootless containers?"""
