"""Calling the strategies (``StrategyCallbacks``): each strategy's handle and status, which
strategies hear an asset's bars or quotes, and what happens when a callback raises: that
strategy alone goes to ERROR (or is stopped, when the kernel takes no more input) and its
working entries are queued for cancelling (``leaving``)."""

from __future__ import annotations

from collections import deque
from typing import Any

from dita._kernel import KernelIntent
from dita._text import shortened
from dita.runtime._shared import CallDepth, log
from dita.runtime.strategies import LIVE_STATUSES, KernelClosed, StrategyHandle, StrategyStatus

# The longest error text a strategy's status keeps (its traceback is logged whole): the status
# is written to metrics.json and a paper run's state file.
ERROR_TEXT = 1_000

# What a strategy's callback may raise that ends the run rather than fails that strategy:
# KeyboardInterrupt is the operator's (Ctrl-C; a SIGTERM as ``dita._signals.Terminated``, its
# subclass), GeneratorExit a generator the run is inside being closed. Anything else is the
# strategy's own failure: a sys.exit there (a script's "give up", as the loader refuses one at
# import), an asyncio.CancelledError from a task cancelled under it.
RUN_ENDING = (KeyboardInterrupt, GeneratorExit)

# A strategy's callback for each kind of data it subscribes to.
_DATA_CALLBACK = {"bars": "on_bar", "quotes": "on_quote"}


class StrategyCallbacks:
    """The strategies by name (``handles``), their callbacks and their failures. A strategy put
    in ERROR or stopped is queued in ``leaving`` (``calls.run_if_outside()``): its working
    entries are canceled once the runtime is out of every call (see ``Lifecycle``)."""

    def __init__(self, kernel: Any, calls: CallDepth) -> None:
        self._kernel = kernel
        self._calls = calls
        self.handles: dict[str, StrategyHandle] = {}
        self.leaving: deque[StrategyHandle] = deque()
        # The RUNNING strategies subscribed to each asset's bars and quotes, with their
        # callback; made at an asset's first data point, cleared when a status changes.
        self.bar_subscribers: dict[str, list[tuple[StrategyHandle, Any]]] = {}
        self.quote_subscribers: dict[str, list[tuple[StrategyHandle, Any]]] = {}

    def handle(self, name: str) -> StrategyHandle:
        try:
            return self.handles[name]
        except KeyError:
            raise KeyError(
                f"no strategy named {name!r}; running: {', '.join(self.handles) or 'none'}"
            ) from None

    def set_status(self, name: str, status: StrategyStatus, *, allowed: tuple[StrategyStatus, ...]) -> None:
        handle = self.handle(name)
        if handle.status not in allowed:
            raise ValueError(f"strategy {name!r} is {handle.status.value}; cannot move it to {status.value}")
        handle.status = status
        self.reindex()

    def status(self) -> list[dict[str, Any]]:
        return [h.to_dict() for h in self.handles.values()]

    def reindex(self) -> None:
        self.bar_subscribers.clear()
        self.quote_subscribers.clear()

    def subscribed(self, asset: str, kind: str) -> list[tuple[StrategyHandle, Any]]:
        """The RUNNING strategies that hear ``asset``'s ``kind`` ("bars" or "quotes"), each with
        its callback."""
        out = []
        for handle in self.handles.values():
            if (
                handle.status is StrategyStatus.RUNNING
                and kind in handle.data
                and (not handle.assets or asset in handle.assets)
            ):
                out.append((handle, getattr(handle.strategy, _DATA_CALLBACK[kind])))
        return out

    def call(self, handle: StrategyHandle, callback: str, *args: Any) -> bool:
        """Run one callback; False (and the strategy in ERROR) when it raised (a BaseException
        too, but those of ``RUN_ENDING``), or returned orders (``refuse_returned_orders``)."""
        try:
            returned = getattr(handle.strategy, callback)(*args)
            if returned is not None:
                refuse_returned_orders(callback, returned)
        except BaseException as exc:
            if isinstance(exc, RUN_ENDING):
                raise
            self.fail(handle, callback, exc)
            return False
        return True

    def fail(self, handle: StrategyHandle, callback: str, exc: BaseException) -> None:
        """``handle``'s ``callback`` raised ``exc``: the strategy goes to ERROR (stopped when the
        kernel takes no more input), its error recorded and logged with its traceback."""
        exc = self._closed_meanwhile(exc) or exc
        if isinstance(exc, KernelClosed):
            self._stop_on_closed_kernel(handle, callback, exc)
            return
        if handle.status is StrategyStatus.ERROR:
            # Keep the error that stopped it: a callback still running (on_bar after a failed
            # on_fill) then fails on "cannot trade", which says nothing about the cause.
            return
        handle.status = StrategyStatus.ERROR
        handle.error = shortened(f"{type(exc).__name__}: {_exception_text(exc)}", ERROR_TEXT)
        handle.error_callback = callback
        # status() keeps the message only; the traceback says which line of the strategy raised.
        log.error("strategy %r failed in %s: %s", handle.name, callback, handle.error, exc_info=exc)
        self.reindex()
        self.leaving.append(handle)
        self._calls.run_if_outside()

    def _stop_on_closed_kernel(self, handle: StrategyHandle, callback: str, exc: KernelClosed) -> None:
        """A callback's submit was refused because the kernel takes no more input: the strategy
        can never trade again here, and did nothing wrong. It is stopped (``on_stop`` called,
        its own submits there refused alike), logged once at WARNING: in ERROR, every strategy
        would read as failed after a shutdown, each with a traceback."""
        if handle.status not in LIVE_STATUSES:
            return
        log.warning("strategy %r stopped: in its %s, %s", handle.name, callback, exc)
        handle.status = StrategyStatus.STOPPED  # before on_stop: a refusal there ends here
        self.reindex()
        if callback != "on_stop":
            try:
                handle.strategy.on_stop()
            except KernelClosed:
                pass
            except BaseException as stop_exc:
                if isinstance(stop_exc, RUN_ENDING):
                    raise
                self.fail(handle, "on_stop", stop_exc)

    def _closed_meanwhile(self, exc: BaseException) -> KernelClosed | None:
        """The ``KernelClosed`` a RuntimeError from the kernel stands for: another thread closed
        it (or its log failed) after the submit's last look and before the kernel took the
        intent. None for any other error, or when the kernel cannot say (busy)."""
        if not isinstance(exc, RuntimeError) or isinstance(exc, KernelClosed):
            return None
        try:
            reason = self._kernel.input_refused_reason()
        except RuntimeError:
            return None
        return None if reason is None else KernelClosed(f"{exc} (the kernel: {reason})")


def refuse_returned_orders(callback: str, returned: object) -> None:
    """Raise TypeError when a callback returned an intent, or a collection holding one: the
    runtime sends nothing a callback returns, so a strategy returning its orders (as some
    frameworks take them) would read RUNNING and never trade. What the helpers answer (an
    outcome, a list of them) and anything else is let be."""
    if isinstance(returned, KernelIntent):
        orders = [returned]
    elif isinstance(returned, list | tuple | set | frozenset):
        orders = [o for o in returned if isinstance(o, KernelIntent)]
    else:
        return
    if orders:
        count = "a KernelIntent" if isinstance(returned, KernelIntent) else f"{len(orders)} KernelIntent(s)"
        raise TypeError(
            f"{callback} returned {count} (the first {orders[0].intent_id!r}): the runtime sends "
            "nothing a callback returns; send each with self.submit(intent), or use buy, sell, "
            "exit, close or cancel"
        )


def _exception_text(exc: BaseException) -> str:
    """``str(exc)``, or what its ``__str__`` raised: a strategy's exception is its own code, and
    one whose text cannot be made must not raise out of the runtime as its error is recorded
    (the run would end, the other strategies never hearing the data point)."""
    try:
        return str(exc)
    except Exception as raised:
        try:
            said = f"{type(raised).__name__}: {raised}"
        except Exception:
            said = type(raised).__name__
        return f"(its str() raised {shortened(said, 200)})"
