"""Helpers shared by the security tests (imported as a plain module: tests/ has no packages)."""

from __future__ import annotations

#: The back-off of the (address, account) counter after its 5 free failures: doubling, capped at 900 s.
BACKOFF_SEQUENCE = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]


class FakeClock:
    """A settable clock in seconds (wall-clock-like, as the login throttle stores it)."""

    def __init__(self, t: float = 1_780_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def run_backoff_sequence(lim, clock: FakeClock, address: str = "192.0.2.1", account: str = "a@x.org") -> None:
    """5 free failures, then each next attempt waits the next step of :data:`BACKOFF_SEQUENCE`; a success resets."""
    for _ in range(5):
        assert lim.wait(address, account) == 0
        lim.failure(address, account)
    waits = []
    for _ in range(len(BACKOFF_SEQUENCE)):
        w = lim.wait(address, account)
        waits.append(w)
        clock.t += w
        lim.failure(address, account)
    assert waits == BACKOFF_SEQUENCE
    clock.t += 900
    lim.success(address, account)
    assert lim.wait(address, account) == 0
