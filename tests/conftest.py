"""Shared fixtures: a scratch profile whose data and reports live in a temporary directory."""
import numpy as np
import pytest


@pytest.fixture
def scratch_params(tmp_path):
    """Common parameters pointing every output into ``tmp_path``."""
    return {"profile": "test", "data_root": str(tmp_path / "data"), "reports_dir": str(tmp_path / "reports"),
            "seed": 0, "share_safe": True, "log_level": "INFO"}


@pytest.fixture
def tone():
    """A function making a sine tone: tone(seconds, sr, channels) -> float32 array (frames x channels)."""
    def make(seconds=0.5, sr=16000, channels=1, freq=220.0):
        t = np.arange(int(seconds * sr)) / sr
        x = 0.3 * np.sin(2 * np.pi * freq * t).astype(np.float32)
        return np.repeat(x[:, None], channels, axis=1)
    return make


_LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection to a non-loopback address fails the test: nothing may leave the machine."""
    import socket

    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else ""
        if isinstance(address, tuple) and not str(host).startswith(_LOOPBACK):
            raise AssertionError(f"a test tried to open a network connection to {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
