"""Signals held while native code that calls back into Python runs (torch's lowering): a real
SIGTERM sent to this process inside the block is acted on only as the block ends, by the
handler that was in place, and Ctrl-C likewise. (Raised inside a torch C++ callback, the
exception aborted a SIGTERMed sweep with 'terminate called after throwing ... python_error'.)"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from splitbench.signals import SignalInterrupt, interrupts_deferred, signals_interrupt


def test_sigterm_inside_the_block_is_raised_as_it_ends() -> None:
    reached = False
    with signals_interrupt(), pytest.raises(SignalInterrupt) as caught:
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            reached = True  # the handler ran already, and did not raise here
        pytest.fail("the held SIGTERM was not raised when the block ended")
    assert reached and caught.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # both blocks restored theirs


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C raising KeyboardInterrupt, as in a terminal: a process started in the background
    by a shell inherits SIGINT ignored (CI started that way failed this test), and an ignored
    signal is rightly left alone by the block."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def test_ctrl_c_inside_the_block_is_raised_as_it_ends(ctrl_c_raises: None) -> None:
    reached = False
    with pytest.raises(KeyboardInterrupt), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        reached = True
    assert reached
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_ctrl_c_stays_ignored() -> None:
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts_deferred():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_an_error_of_the_block_wins_and_nothing_is_held_afterwards() -> None:
    with pytest.raises(ValueError), interrupts_deferred():
        raise ValueError("the block's own error")
    with interrupts_deferred():
        pass  # no signal: nothing raised
