"""The workload suite: real services from Debian packages, run as their users
run them (detached, with their normal non-root users), under rl and, where
installed, under rootless podman with the same image; each test prints both
tools' observations and asserts they are equal.

  test_nginx     master root, workers www-data, bind-mounted site, published
                 port, `exec nginx -s reload`, access lines in `logs`
  test_redis     redis user, named volume, --appendonly, redis-cli from a
                 second container on a user network, stop/start, rm + new
  test_postgres  initdb into a named volume as postgres, pg_isready
                 healthcheck, psql from a second container, rm + new
  test_devloop   stdlib app as the user's uid (--userns=keep-id), project
                 bind-mounted, host edits served live, files written owned
                 by the user
  test_apt       apt-get install nginx inside a detached container (needs
                 the Debian mirror: marker `mirror`)

The image: tests/fixture/workloads.py (mmdebstrap --include, cached by
recipe hash, pushed into the registry fixture per session)."""
