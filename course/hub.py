"""Can the Hugging Face hub be used right now? One answer for every download in the course.

Lessons 00 (the doctor), 03 (pretrained weights) and the data/evaluation code
download from the hub. Offline, each must fail within seconds with a message
that says why and what to do instead, never hang on DNS or a dead socket. The
answer comes from two places, checked in this order:

1. the environment: `HF_HUB_OFFLINE` (and `HF_DATASETS_OFFLINE` /
   `TRANSFORMERS_OFFLINE`, which the `datasets` and `transformers` libraries
   honour the same way) set to 1/true/yes/on means "don't even try";
2. a TCP connection to the hub's host (`HF_ENDPOINT`, default
   https://huggingface.co) made in a thread that is abandoned after `timeout`
   seconds, DNS lookup included — `socket.create_connection`'s own timeout
   does not cover name resolution.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
TRUE_VALUES = ("1", "true", "yes", "on")
DEFAULT_ENDPOINT = "https://huggingface.co"


def offline_reason(variables=OFFLINE_VARIABLES) -> str | None:
    """'HF_HUB_OFFLINE=1 is set' (the first offline variable that is on), or None."""
    for name in variables:
        value = os.environ.get(name, "").strip()
        if value.lower() in TRUE_VALUES:
            return f"{name}={value} is set"
    return None


def endpoint() -> tuple[str, int]:
    """(host, port) of the hub: HF_ENDPOINT if set (a mirror), else huggingface.co:443."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT)
    if not url.hostname:
        raise ValueError(f"HF_ENDPOINT={os.environ.get('HF_ENDPOINT')!r} is not a URL like https://host")
    return url.hostname, url.port or (80 if url.scheme == "http" else 443)


def unreachable_reason(timeout: float = 2.0, variables=OFFLINE_VARIABLES) -> str | None:
    """None when the hub can be used; otherwise why not, decided within about `timeout` seconds."""
    reason = offline_reason(variables)
    if reason:
        return f"offline mode ({reason})"
    host, port = endpoint()
    result = [f"no answer from {host}:{port} within {timeout:g} s"]

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result[0] = None
        except OSError as e:
            result[0] = f"{host}:{port} cannot be reached ({type(e).__name__}: {e})"

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return result[0]
