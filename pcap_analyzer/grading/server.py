"""The server a teacher names (``--server`` or the rubric's ``lab.server``), and the error for a request
grading cannot answer."""
from __future__ import annotations

import ipaddress


class CheckError(ValueError):
    """A request :func:`check` cannot answer (e.g. a malformed ``server``)."""


def parse_server(text: str) -> tuple[str, int | None]:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or a bare IPv6 address -> (address, port or None)."""
    text = text.strip()
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise CheckError(f"--server {text!r}: expected [ADDRESS]:PORT")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise CheckError(f"--server {text!r}: give the server's IP address (optionally :PORT), "
                         "as the capture shows it") from None
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise CheckError(f"--server {text!r}: port must be a number from 1 to 65535")
        return address, int(port)
    return address, None
