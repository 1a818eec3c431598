"""stdin/stdout <-> TCP relay that qemu runs for each guest connection to a
`guestfwd=...-cmd:` forward: `python3 relay.py TARGET_FILE`, where the file
holds "HOST PORT" (read per connection, so the target can change while the
guest runs; no file: the connection is refused by closing it).

(A `guestfwd` to a `tcp:` chardev would carry one connection for the life of
the guest; a command is started per connection.)"""

import os
import selectors
import socket
import sys


def main() -> None:
    try:
        host, port = open(sys.argv[1]).read().split()
        s = socket.create_connection((host, int(port)))
    except OSError:
        return
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ)
    sel.register(s, selectors.EVENT_READ)
    open_ends = 2
    while open_ends:
        for key, _ in sel.select():
            if key.fileobj == 0:
                data = os.read(0, 65536)
                if not data:
                    s.shutdown(socket.SHUT_WR)
                    sel.unregister(0)
                    open_ends -= 1
                else:
                    s.sendall(data)
            else:
                data = s.recv(65536)
                if not data:  # the server is done: so is this connection
                    return
                else:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(1, view):]


if __name__ == "__main__":
    main()
