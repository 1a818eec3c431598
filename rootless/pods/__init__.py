"""Pods: containers sharing namespaces (network, IPC, UTS by default) held
by an infra container, as podman's pods. `store.py` the records, `ops.py`
create/join/lifecycle, `views.py` podman's output shapes."""
