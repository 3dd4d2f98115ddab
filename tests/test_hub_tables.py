"""The shared hub check and table formatter."""

import socket
import threading
import time

import pytest

from course import hub
from course.tables import format_table


def test_offline_variables_are_honoured(monkeypatch):
    for name in hub.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert hub.offline_reason() is None
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "True")
    assert hub.offline_reason() == "HF_DATASETS_OFFLINE=True is set"
    assert hub.offline_reason(("HF_HUB_OFFLINE",)) is None  # only the variables asked about
    assert hub.unreachable_reason(variables=("HF_DATASETS_OFFLINE",)).startswith("offline mode")


def test_endpoint_follows_hf_endpoint(monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert hub.endpoint() == ("huggingface.co", 443)
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example:8080/")
    assert hub.endpoint() == ("mirror.example", 8080)
    monkeypatch.setenv("HF_ENDPOINT", "not a url")
    with pytest.raises(ValueError, match="HF_ENDPOINT"):
        hub.endpoint()


def test_probe_connects_to_the_endpoint(monkeypatch):
    for name in hub.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        assert hub.unreachable_reason(timeout=5) is None
    finally:
        server.close()
    assert "cannot be reached" in hub.unreachable_reason(timeout=5)  # nothing listens any more


def test_probe_gives_up_on_a_hanging_network(monkeypatch):
    for name in hub.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    released = threading.Event()

    def hang(*args, **kwargs):  # answers only when the test is over, as a dead network would
        released.wait(30)
        raise TimeoutError("no answer")

    monkeypatch.setattr(socket, "create_connection", hang)
    t0 = time.perf_counter()
    try:
        reason = hub.unreachable_reason(timeout=0.2)
    finally:
        released.set()  # the probe's thread ends now, not in some later test
    assert "no answer" in reason
    assert time.perf_counter() - t0 < 10  # bounded by the timeout, not by the 30 s hang


def test_format_table_aligns_and_checks_align():
    text = format_table([["a", 1, 2.5], ["bbb", 22, 3]], header=["name", "n", "x"])
    assert text.splitlines() == ["name   n    x", "----  --  ---", "a      1  2.5", "bbb   22    3"]
    assert format_table([["a", "b"]], align="rl") == "a  b"
    with pytest.raises(ValueError, match="align"):
        format_table([["a", "b"]], align="lrx")
