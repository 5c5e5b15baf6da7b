"""SIGTERM and SIGHUP handled like Ctrl-C: each raises :class:`Interrupted` (a KeyboardInterrupt)
in the main thread, so every ``with`` block and ``except BaseException`` on the way out runs:
sinks delete their temporary files, training saves a last checkpoint. The exit code is the
shell's for a signal, ``128 + signal number`` (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).

A signal ignored when the process started (``nohup`` ignores SIGHUP) stays ignored.
"""
from __future__ import annotations

import contextlib
import signal
import threading

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM or SIGHUP."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def exit_code(e: KeyboardInterrupt) -> int:
    """128 + the signal that stopped the run (SIGINT for a plain KeyboardInterrupt)."""
    return 128 + int(getattr(e, "signum", signal.SIGINT))


def describe(e: KeyboardInterrupt) -> str:
    signum = getattr(e, "signum", None)
    return "interrupted" if signum is None else f"stopped by {signal.Signals(signum).name}"


@contextlib.contextmanager
def signals_interrupt(signals: tuple[int, ...] = HANDLED):
    """Within the block, ``signals`` raise :class:`Interrupted` (once: while the first one unwinds,
    more of them are ignored, so cleaning up is not cut short); previous handlers restored after."""
    if threading.current_thread() is not threading.main_thread():  # handlers live in the main thread
        yield
        return
    previous = {s: signal.getsignal(s) for s in signals}
    mine = [s for s, h in previous.items() if h == signal.SIG_DFL]

    def handler(signum, frame):
        for s in mine:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    for s in mine:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s in mine:
            signal.signal(s, previous[s])


@contextlib.contextmanager
def held(signals: tuple[int, ...] = (signal.SIGINT,) + HANDLED):
    """Within the block, ``signals`` wait (blocked, not lost) and arrive when it ends: a few steps
    that must happen together, e.g. an optimiser update and the step count (Unix; elsewhere, and
    outside the main thread, a plain block)."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
