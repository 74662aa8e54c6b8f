"""Identity-check attempt counters on the real DynamoDB emulator: atomic, per user and per claim."""

from __future__ import annotations

import threading
import uuid

import pytest
from luma.config import Settings
from luma.errors import ErrorCode, LumaError
from luma.identity import IdentityAttempts


class Clock:
    def __init__(self, t: float = 1_790_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def ids() -> tuple[str, str]:
    return f"ida-{uuid.uuid4().hex[:8]}", f"u-{uuid.uuid4().hex[:8]}"


def make(settings: Settings, clock: Clock) -> IdentityAttempts:
    return IdentityAttempts(
        settings.model_copy(update={"identity_max_attempts": 3, "identity_lockout_s": 600}), clock=clock
    )


def test_parallel_guesses_never_exceed_the_limit(ddb_settings: Settings) -> None:
    attempts = make(ddb_settings, Clock())
    tenant, user = ids()
    outcomes: list[str] = []
    lock = threading.Lock()

    def guess(i: int) -> None:
        try:
            attempts.reserve(tenant, user, claim=f"name {i}|2000-01-01")
            result = "taken"
        except LumaError as err:
            result = err.code.value
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("taken") == 3
    assert outcomes.count(ErrorCode.IDENTITY_LOCKED.value) == 9


def test_the_lock_is_per_user_not_per_session_and_ends_with_the_window(ddb_settings: Settings) -> None:
    clock = Clock()
    attempts = make(ddb_settings, clock)
    tenant, user = ids()
    assert [attempts.reserve(tenant, user) for _ in range(3)] == [2, 1, 0]
    with pytest.raises(LumaError) as locked:
        attempts.check(tenant, user)  # any session, any channel: the counter is the user's
    assert locked.value.code is ErrorCode.IDENTITY_LOCKED and 0 < locked.value.details["retryAfter"] <= 600
    other_tenant_same_user_id = f"{tenant}-b"
    assert attempts.remaining(other_tenant_same_user_id, user) == 3  # scoped by tenant
    clock.t += 601
    attempts.check(tenant, user)
    assert attempts.reserve(tenant, user) == 2


def test_a_claimed_identity_is_locked_for_every_user_who_tries_it(ddb_settings: Settings) -> None:
    attempts = make(ddb_settings, Clock())
    tenant, _ = ids()
    claim = "alice martin|1987-03-14"
    for _ in range(3):
        attempts.reserve(tenant, f"u-{uuid.uuid4().hex[:8]}", claim)  # three accounts, one guess each
    with pytest.raises(LumaError) as locked:
        attempts.reserve(tenant, f"u-{uuid.uuid4().hex[:8]}", claim)
    assert locked.value.code is ErrorCode.IDENTITY_LOCKED


def test_the_owner_verifying_again_and_again_is_never_locked(ddb_settings: Settings) -> None:
    attempts = make(ddb_settings, Clock())
    tenant, user = ids()
    claim = "alice martin|1987-03-14"
    attempts.reserve(tenant, f"u-{uuid.uuid4().hex[:8]}", claim)  # someone else's failed guess stays counted
    for _ in range(10):
        assert attempts.reserve(tenant, user, claim) == 2
        attempts.succeeded(tenant, user, claim)
    assert attempts.remaining(tenant, user) == 3
    for _ in range(2):
        attempts.reserve(tenant, f"u-{uuid.uuid4().hex[:8]}", claim)  # with the first: three failed guesses
    with pytest.raises(LumaError):
        attempts.reserve(tenant, f"u-{uuid.uuid4().hex[:8]}", claim)
