"""The settings of ``IbkrVenue``: where TWS or IB Gateway listens, the client id, the account
(read from an environment variable, never from a config file) and the contract of each asset."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dita._numbers import Number
from dita.venues._settings import AssetName, VenueName

__all__ = ["IbkrContract", "IbkrSettings"]


class IbkrContract(BaseModel):
    """What IBKR's contract search takes for one asset: ``symbol`` (``AAPL``), ``sec_type``
    (``STK``, ``CASH``), ``exchange`` (``SMART``) and ``currency``. A contract whose multiplier
    is not 1 (futures, options) is refused when the venue is built: its fills would be booked at
    price times contracts, not at its notional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str = Field(min_length=1)
    sec_type: str = Field(default="STK", min_length=1)
    exchange: str = Field(default="SMART", min_length=1)
    currency: str = Field(default="USD", min_length=1)
    primary_exchange: str = ""


class IbkrSettings(BaseModel):
    """``IbkrVenue``'s settings; each bad value is a ValidationError naming it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: VenueName = "ibkr"
    host: str = Field(default="127.0.0.1", min_length=1)
    # 7497: TWS paper trading; 7496 TWS live, 4001/4002 IB Gateway live/paper.
    port: int = Field(default=7497, ge=1, le=65535)
    client_id: int = Field(default=1, ge=0)
    # The environment variable holding the account id the orders go to ('' with one account:
    # TWS's only managed account). The id itself is never a setting, so configs can be shared.
    account_env: str = ""
    contracts: dict[AssetName, IbkrContract] = Field(min_length=1)
    time_in_force: Literal["DAY", "GTC"] = "DAY"
    connect_timeout_s: Number = Field(default=4.0, gt=0)
    # How long submit and cancel wait for TWS's first answer (ack, reject, cancel) before
    # returning; what comes later arrives through poll_events.
    answer_wait_s: Number = Field(default=2.0, ge=0)
    # The least time between two reconnect attempts after the connection dropped.
    reconnect_every_s: Number = Field(default=1.0, ge=0)
    # How long a fill waits for its commission report, from its booking, once a correction's fill
    # waits for that report too (TWS now and then sends none): then its predicted fee stands and
    # the correction's fill is settled at its whole commission. Else it waits, as the kernel does.
    commission_wait_s: Number = Field(default=60.0, gt=0)

    @field_validator("contracts")
    @classmethod
    def _one_currency(cls, contracts: dict[str, IbkrContract]) -> dict[str, IbkrContract]:
        # The venue converts nothing: every fill and commission goes into the kernel's one capital.
        if len({c.currency for c in contracts.values()}) > 1:
            named = ", ".join(f"{asset}: {c.currency}" for asset, c in contracts.items())
            raise ValueError(
                f"the contracts are in more than one currency ({named}): the venue books every fill"
                " into the kernel's one capital with no conversion; keep one currency per venue"
            )
        return contracts

    def account(self) -> str:
        """The account id from ``account_env`` ('' when unset: TWS's only managed account)."""
        if not self.account_env:
            return ""
        value = os.environ.get(self.account_env, "")
        if not value:
            raise ValueError(f"account_env={self.account_env!r}: the environment variable is not set")
        return value
