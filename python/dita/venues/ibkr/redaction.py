"""Keeps IBKR account ids out of every log record ib_async and this venue write: ib_async logs
whole executions and orders (their account number among them) at INFO and errors with the raw
message fields."""

from __future__ import annotations

import logging
import re

__all__ = ["ACCOUNT_ID", "LOGGERS", "AccountRedactor"]

# IBKR account ids: U (individual), DU (paper), F/DF (advisor), I (IB's own), digits after.
ACCOUNT_ID = re.compile(r"\b(?:DU|DF|U|F|I)\d{5,}\b")
# The loggers the redactor sits on: a filter applies to records made at its own logger only.
LOGGERS = (
    "ib_async",
    "ib_async.client",
    "ib_async.wrapper",
    "ib_async.ib",
    "ib_async.Decoder",
    "dita.venues.ibkr",
)
_HIDDEN = "<account>"


class AccountRedactor(logging.Filter):
    """Rewrites a record's message (and its exception text) with every known account id, and
    anything shaped like one, replaced by ``<account>``."""

    def __init__(self) -> None:
        super().__init__()
        self._known: set[str] = set()

    def know(self, account: str) -> None:
        if account:
            self._known.add(account)

    def redact(self, text: str) -> str:
        for account in sorted(self._known, key=len, reverse=True):
            text = text.replace(account, _HIDDEN)
        return ACCOUNT_ID.sub(_HIDDEN, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = ()
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True

    def install(self) -> None:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)

    def remove(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeFilter(self)
