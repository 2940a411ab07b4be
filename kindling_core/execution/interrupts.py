"""Ctrl-C during a run: cancel cooperatively first, abort on the second press.

Why not simply let ``KeyboardInterrupt`` fly: Python raises it in the main thread at whatever
bytecode is running, which during a Spark run is almost always inside a py4j call waiting for
the JVM. The exception then tears that call apart mid-protocol, and PySpark's own SIGINT
handler (installed when a classic ``SparkContext`` starts on the main thread) makes a second
py4j call *re-entrantly on the same busy connection* to cancel all jobs. Measured on PySpark
4.2: that call fails with ``RuntimeError: reentrant call inside BufferedReader``, the busy
connection is closed under the running call, and whether the job is cancelled at all depends
on where the signal landed. A run must never hang or half-cancel on Ctrl-C.

So for the duration of a run (on the main thread only, and only when SIGINT is not ignored)
:func:`cooperative_interrupts` installs a handler that does nothing but set a flag and wake a
watcher thread. The watcher calls ``on_interrupt`` (the executor cancels the running pipes'
Spark job groups / tags on the watcher's own py4j connection); the pipe's Spark call then
returns normally with a cancellation error, the executor records the pipe as cancelled,
starts nothing new and raises :class:`~kindling_core.execution.errors.RunInterrupted`.

Which thread sees the signal: the kernel may deliver a process-wide SIGINT to any thread, and
then a main thread blocked in a socket read (py4j) or a lock does not run Python's handler
until that call returns (measured: about 1 in 20 deliveries), i.e. after the Spark job ends.
So the watcher does not depend on the main thread: it reads the signal from
:func:`signal.set_wakeup_fd` (written by the C-level handler on whichever thread got it) and
cancels at once. When the wakeup fd is already taken (an asyncio loop on the main thread owns
it), kindling leaves it alone and the watcher is woken by the Python-level handler instead.

A **second** Ctrl-C raises ``KeyboardInterrupt`` at once (the escape hatch when a transform
is stuck in Python code that no Spark cancellation reaches). The previous handler is restored
when the run ends, whatever happens.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["InterruptGate", "cooperative_interrupts"]

_log = logging.getLogger("kindling.execution")
_CLOSING = b"\0"  # never a signal number: tells the watcher the run is over
_CANCELLING = "cancelling the running pipes' Spark jobs"


class InterruptGate:
    """The state of one run's Ctrl-C handling.

    ``requested`` becomes true on the first SIGINT and stays true; ``wait(seconds)`` sleeps
    unless an interrupt is requested and returns whether one was. ``installed`` says whether
    kindling's handler is active (false off the main thread or when SIGINT is ignored: then
    Ctrl-C keeps Python's usual behaviour). ``aborting`` is set on the second press.
    """

    __slots__ = ("requested", "aborting", "installed", "_event")

    def __init__(self, *, installed: bool = False) -> None:
        self.requested = False
        self.aborting = False
        self.installed = installed
        self._event = threading.Event()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return early (``True``) once an interrupt is requested."""
        return self._event.wait(seconds) or self.requested

    def _request(self) -> None:
        self.requested = True
        self._event.set()


def _interrupt_main_thread() -> None:
    """Deliver SIGINT to the main thread itself, so a blocking call there returns EINTR."""
    pthread_kill = getattr(signal, "pthread_kill", None)
    main = threading.main_thread().ident
    if pthread_kill is not None and main is not None:
        pthread_kill(main, signal.SIGINT)
    else:  # pragma: no cover - platforms without pthread_kill
        import _thread

        _thread.interrupt_main()


class _Watcher:
    """Counts Ctrl-C presses off the main thread and acts on them (see the module doc)."""

    def __init__(self, gate: InterruptGate, on_interrupt: Callable[[], None], action: str = _CANCELLING) -> None:
        self.gate = gate
        self.on_interrupt = on_interrupt
        self.action = action
        self.presses = 0

    def press(self) -> None:
        self.presses += 1
        if self.presses == 1:
            self.gate._request()
            _log.warning("interrupt received: %s (press Ctrl-C again to abort at once)", self.action)
            # on its own thread, so a cancel that hangs (an unreachable cluster) never delays the second press
            threading.Thread(target=self._cancel, name="kindling-interrupt-cancel", daemon=True).start()
        elif self.presses == 2:
            self.gate.aborting = True
            _log.warning("second interrupt: aborting the run now")
            _interrupt_main_thread()

    def _cancel(self) -> None:
        try:
            self.on_interrupt()
        except Exception:  # noqa: BLE001 - the run stops regardless; say why nothing was cancelled
            _log.exception("cancelling the running pipes failed")

    def read_wakeup_fd(self, reader: socket.socket) -> None:
        while True:
            try:
                data = reader.recv(512)
            except OSError:
                return
            for byte in data:
                if byte == _CLOSING[0]:
                    return
                if byte == signal.SIGINT and not self.gate.aborting:
                    self.press()
            if not data:
                return

    def wait_for_handler(self) -> None:
        """Fallback without the wakeup fd: the handler counts presses; act on the first."""
        self.gate._event.wait()  # set by the first press, or when the run ends
        if self.gate.requested:
            self.press()


def _claim_wakeup_fd(writer: socket.socket) -> bool:
    """Make ``writer`` the signal wakeup fd unless someone else (asyncio) already owns it."""
    try:
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except (ValueError, OSError):
        return False
    if previous != -1:
        signal.set_wakeup_fd(previous)
        return False
    return True


@contextmanager
def cooperative_interrupts(
    on_interrupt: Callable[[], None], *, enabled: bool = True, action: str = _CANCELLING
) -> Iterator[InterruptGate]:
    """Route SIGINT to ``on_interrupt`` (called once, off the main thread) while the block runs.

    Yields an :class:`InterruptGate`. Installed only when ``enabled``, on the main thread, and
    when SIGINT is not ignored (a background job started with SIGINT ignored stays so). The
    previous SIGINT handler and wakeup fd are restored on exit. ``on_interrupt`` must not
    raise; if it does, the error is logged and the run still stops. ``action`` says what the
    first press does, in the warning it logs (``interrupt received: <action> (press Ctrl-C...``).
    """
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield InterruptGate()
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN or previous is None:
        yield InterruptGate()
        return
    gate = InterruptGate(installed=True)
    watcher = _Watcher(gate, on_interrupt, action)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    owns_wakeup_fd = _claim_wakeup_fd(writer)

    def handler(signum: int, frame: FrameType | None) -> None:
        if gate.aborting:
            raise KeyboardInterrupt
        if owns_wakeup_fd:  # the watcher counts presses; just make the request visible here
            gate.requested = True
        elif gate.requested:  # fallback: this handler counts
            gate.aborting = True
            raise KeyboardInterrupt
        else:
            gate._request()

    if owns_wakeup_fd:
        thread = threading.Thread(target=watcher.read_wakeup_fd, args=(reader,), name="kindling-interrupt-watcher", daemon=True)
    else:
        thread = threading.Thread(target=watcher.wait_for_handler, name="kindling-interrupt-watcher", daemon=True)
    thread.start()
    signal.signal(signal.SIGINT, handler)
    try:
        yield gate
    finally:
        signal.signal(signal.SIGINT, previous)
        if owns_wakeup_fd:
            signal.set_wakeup_fd(-1)
        try:
            writer.send(_CLOSING)
        except OSError:  # pragma: no cover - a full buffer still wakes the watcher
            pass
        gate._event.set()
        thread.join(1.0)
        writer.close()
        reader.close()
