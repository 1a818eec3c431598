"""Where rl-monitor hands control back to rl: `python -m
rootless.containers.monitor_main resume STATE STATUS` once the container
exited, `... health STATE` for one healthcheck (see containers.monitor)."""

import sys

from rootless.containers import monitor


def main() -> None:
    from rootless import logconf
    logconf.configure()  # library warnings into monitor.log, in rl's words
    try:
        sys.exit(monitor.entry(sys.argv[1:]))
    except Exception:  # noqa: BLE001 - into monitor.log; the records tell the user the rest
        import traceback
        traceback.print_exc()
        sys.exit(125)


if __name__ == "__main__":  # also how an older rl-monitor's boot line (runpy) comes back
    main()
