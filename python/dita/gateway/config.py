"""Gateway settings: a ``[gateway]`` table in a TOML file, overridden by ``DITA_GATEWAY_*``
environment variables (so the token can stay out of files)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dita.risk import KERNEL_MAX

__all__ = ["GatewaySettings", "load_settings"]


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Not empty: asyncio takes "" for every interface, and a blank setting should not open the API up.
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8080, ge=0, le=65535)
    token: str | None = Field(default=None, min_length=16, description="Bearer token for mutating endpoints")
    max_body_bytes: int = Field(default=65_536, ge=256, le=16 * 1024 * 1024)
    sse_history: int = Field(
        default=10_000, ge=1, le=1_000_000, description="Events kept for Last-Event-ID resume"
    )
    sse_client_buffer: int = Field(
        default=1_000, ge=1, le=100_000, description="Frames a client may lag before drop"
    )
    sse_max_clients: int = Field(
        default=100, ge=1, le=10_000, description="Event stream clients at once; one more gets 503"
    )
    sse_keepalive_seconds: float = Field(default=15.0, gt=0, le=300)
    stop_grace_seconds: float = Field(
        default=5.0, gt=0, le=300, description="How long a stop waits for a client that does not read"
    )
    max_slots: int = Field(default=10, ge=1, le=100_000)
    kernel_id: str | None = None
    # Bounded as the kernel bounds it: `inf` passed `ge=0` and stopped the start later, the
    # port bound, as "cannot start the kernel: invalid capital: inf".
    seed_capital: float | None = Field(default=None, ge=0, le=KERNEL_MAX, allow_inf_nan=False)
    journal: str | None = Field(default=None, description="Journal DSN (chdb://DIR or http(s)://...)")
    hazelcast: str | None = Field(default=None, description="Hazelcast members host:port,... for projections")
    hazelcast_cluster: str | None = Field(
        default=None, description="Hazelcast cluster name (unset: $DITA_HAZELCAST_CLUSTER, else dita)"
    )


def load_settings(path: Path | None = None, **overrides: Any) -> GatewaySettings:
    """File, then environment, then explicit overrides (None values are ignored)."""
    values: dict[str, Any] = {}
    if path is not None:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
        table = doc.get("gateway", {})
        if not isinstance(table, dict):
            raise ValueError(f"{path}: [gateway] must be a table, got {type(table).__name__}")
        for key, value in table.items():
            # No setting is a boolean, and the model would take `max_slots = true` for 1.
            if isinstance(value, bool):
                raise ValueError(f"{path}: [gateway] {key} = {str(value).lower()}: not a boolean setting")
        values.update(table)
    for name in GatewaySettings.model_fields:
        env = os.environ.get(f"DITA_GATEWAY_{name.upper()}")
        if env is not None:
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    return GatewaySettings.model_validate(values)
