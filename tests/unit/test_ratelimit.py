"""Rate-limit slots (headwater/executors/ratelimit.py): what a slot file holds and when it is trusted.
The processes that share one are in tests/integration/test_shared_rate_limit.py."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest

from headwater.errors import ConfigError
from headwater.executors.ratelimit import (
    ENV_FOLDER,
    ENV_RAY,
    FileSlots,
    LocalSlots,
    RateLimit,
    Sharing,
    slot_name,
)
from headwater.sources.rest_api.client import _limit_identity


@pytest.fixture
def unshared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither variable set, and both put back as they were after the test (whatever it installs)."""
    for key in (ENV_FOLDER, ENV_RAY):
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)


def test_slots_are_spaced_by_the_interval(tmp_path: Path) -> None:
    for slots in (LocalSlots(), FileSlots(tmp_path / "a" / "x.slot")):  # the file's folder is made
        waits = [slots.take(0.5) for _ in range(4)]
        assert waits[0] == pytest.approx(0.0, abs=0.01)
        assert waits[1:] == pytest.approx([0.5, 1.0, 1.5], abs=0.02)


def test_a_slot_file_holds_the_next_slot_and_the_clock_origin(tmp_path: Path) -> None:
    path = tmp_path / "x.slot"
    FileSlots(path).take(0.25)
    following, origin = struct.unpack("<dd", path.read_bytes())
    assert following == pytest.approx(time.monotonic() + 0.25, abs=0.05)
    assert origin == pytest.approx(time.time() - time.monotonic(), abs=0.05)


def test_a_slot_file_from_another_boot_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "x.slot"
    origin = time.time() - time.monotonic()
    path.write_bytes(struct.pack("<dd", time.monotonic() + 3600, origin - 7200))  # before a reboot
    assert FileSlots(path).take(0.1) == pytest.approx(0.0, abs=0.01)
    path.write_bytes(struct.pack("<dd", time.monotonic() + 0.5, origin))  # this boot's: honoured
    assert FileSlots(path).take(0.1) == pytest.approx(0.5, abs=0.05)
    path.write_bytes(b"\0" * 3)  # cut short: a fresh schedule
    assert FileSlots(path).take(0.1) == pytest.approx(0.0, abs=0.01)


@pytest.mark.usefixtures("unshared")
def test_a_limit_follows_the_sharing_of_the_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = RateLimit(10, "https://api.example.com/v1/")
    assert isinstance(limit.slots(), LocalSlots)
    monkeypatch.setenv(ENV_FOLDER, str(tmp_path))
    slots = limit.slots()
    assert isinstance(slots, FileSlots)
    assert slots.path == tmp_path / f"{slot_name('https://api.example.com/v1/', 10)}.slot"
    assert limit.slots() is slots  # kept while the sharing stays the same
    monkeypatch.delenv(ENV_FOLDER)
    assert isinstance(limit.slots(), LocalSlots)


def test_a_limit_is_named_by_its_identity_and_rate() -> None:
    assert slot_name("https://api.example.com/", 10) == slot_name("https://api.example.com/", 10.0)
    assert slot_name("https://api.example.com/", 10) != slot_name("https://api.example.com/", 5)
    assert slot_name("https://api.example.com/", 10) != slot_name("https://other.example.com/", 10)
    # the identity has no credentials, query or fragment: workers with other tokens share the limit
    assert (
        _limit_identity("https://user:s3cret@API.example.com:8443/v1/?key=abc#x") == "https://api.example.com:8443/v1/"
    )
    assert _limit_identity("") == ""


@pytest.mark.usefixtures("unshared")
def test_sharing_round_trips_through_the_environment() -> None:
    assert Sharing.current().local
    sharing = Sharing(folder="/tmp/limits")
    assert sharing.environ() == {ENV_FOLDER: "/tmp/limits"}
    sharing.install()
    assert Sharing.current() == sharing
    Sharing(ray_namespace="run-1").install()
    assert ENV_FOLDER not in os.environ
    assert Sharing.current() == Sharing(ray_namespace="run-1")
    Sharing().install()
    assert ENV_RAY not in os.environ
    with pytest.raises(ConfigError, match="not both"):
        Sharing(folder="/tmp/limits", ray_namespace="run-1")
    with pytest.raises(ConfigError, match="positive"):
        RateLimit(0)
