"""The per-process ownership cache: entries age out, and a forgotten device cannot be remembered again."""

from __future__ import annotations

import uuid

import pytest

from petit.devices.ownership import OwnedDevice, OwnershipCache

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def device() -> OwnedDevice:
    return OwnedDevice(id=uuid.uuid4(), platform_device_id=uuid.uuid4())


def test_remembered_until_the_ttl_then_looked_up_again() -> None:
    clock = Clock()
    cache = OwnershipCache(ttl_s=2.0, clock=clock)
    owner, owned = uuid.uuid4(), device()
    cache.remember(owner, owned)
    assert cache.get(owner, owned.id) == owned
    clock.now += 1.9
    assert cache.get(owner, owned.id) == owned
    clock.now += 0.2
    assert cache.get(owner, owned.id) is None


def test_only_the_owner_is_answered() -> None:
    cache = OwnershipCache(clock=Clock())
    owner, owned = uuid.uuid4(), device()
    cache.remember(owner, owned)
    assert cache.get(uuid.uuid4(), owned.id) is None


def test_forget_drops_the_device_for_every_owner_at_once() -> None:
    cache = OwnershipCache(clock=Clock())
    first, second, owned, other = uuid.uuid4(), uuid.uuid4(), device(), device()
    cache.remember(first, owned)
    cache.remember(second, owned)
    cache.remember(first, other)
    cache.forget(owned.id)
    assert cache.get(first, owned.id) is None
    assert cache.get(second, owned.id) is None
    assert cache.get(first, other.id) == other


def test_a_read_that_raced_the_delete_cannot_put_it_back_until_the_tombstone_expires() -> None:
    clock = Clock()
    cache = OwnershipCache(ttl_s=2.0, tombstone_s=120.0, clock=clock)
    owner, owned = uuid.uuid4(), device()
    # The read saw the row before the delete committed and remembers it afterwards.
    cache.forget(owned.id)
    cache.remember(owner, owned)
    assert cache.get(owner, owned.id) is None
    clock.now += 119
    cache.remember(owner, owned)
    assert cache.get(owner, owned.id) is None
    # A delete that rolled back leaves a device that may be cached again once the tombstone is gone.
    clock.now += 2
    cache.remember(owner, owned)
    assert cache.get(owner, owned.id) == owned


def test_size_is_bounded_oldest_first() -> None:
    cache = OwnershipCache(max_entries=3, clock=Clock())
    owner = uuid.uuid4()
    devices = [device() for _ in range(4)]
    for owned in devices:
        cache.remember(owner, owned)
    assert cache.get(owner, devices[0].id) is None
    assert [cache.get(owner, d.id) for d in devices[1:]] == devices[1:]
