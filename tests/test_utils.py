"""Device choice, seeding and atomic writes."""

import os

import pytest
import torch

from course.utils import (
    atomic_write_bytes,
    atomic_write_text,
    cpu_threads,
    get_device,
    seed_everything,
)


def test_get_device_picks_an_available_device():
    dev = get_device()
    assert dev in {"cpu", "cuda", "mps"}
    torch.zeros(1, device=dev)  # usable
    if torch.cuda.is_available():
        assert dev == "cuda"


def test_get_device_forced_and_refused(monkeypatch):
    assert get_device("cpu") == "cpu"
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="'cuda'.*not available"):
            get_device("cuda")


def test_seed_everything_repeats_random_streams():
    import random

    import numpy as np

    seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(7)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_cpu_threads_sets_and_restores_the_thread_count():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with cpu_threads(1):
            assert torch.get_num_threads() == 1
            with cpu_threads(1):
                assert torch.get_num_threads() == 1
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError):
            with cpu_threads(1):
                raise RuntimeError("restored on errors too")
        assert torch.get_num_threads() == 2
        with cpu_threads(None):
            assert torch.get_num_threads() == 2
        for bad in (0, -1, 1.5, "2"):
            with pytest.raises(ValueError, match="threads"):
                cpu_threads(bad)
    finally:
        torch.set_num_threads(before)


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "sub" / "f.txt"
    atomic_write_text(p, "héllo")
    assert p.read_bytes() == "héllo".encode()
    atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"new"
    assert os.listdir(p.parent) == ["f.txt"], "no temporary files may be left behind"
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask, "the file gets the mode a plain open() gives"


def test_atomic_write_failure_keeps_old_file(tmp_path):
    p = tmp_path / "f.txt"
    atomic_write_text(p, "old")

    with pytest.raises(TypeError):
        atomic_write_bytes(p, "not bytes")  # write() of a str to a binary file fails mid-way
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]
