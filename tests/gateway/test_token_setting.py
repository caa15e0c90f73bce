"""The token setting takes only what a client can present in an Authorization header."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dita.gateway.config import GatewaySettings, SettingsError, load_settings


@pytest.mark.parametrize(
    "token",
    ["contraseña-secreta-0123", "пароль-пароль-пароль", " padded-token-0123456", "bell\x07in-the-token-0123"],
)
def test_a_token_no_client_can_present_is_refused_at_the_start(
    token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Header values reach the gateway as Latin-1 text: a token with "ñ", sent as UTF-8 as
    curl sends it, never matched (nor one beyond Latin-1, whatever the client sent), and one
    with a space at an end or a control character cannot be sent as it is. Every mutating
    endpoint, a halt included, answered 401 to the operator who set it. It is refused when the
    settings are read, naming the setting and not the value."""
    with pytest.raises(ValidationError, match="token"):
        GatewaySettings(token=token)
    monkeypatch.setenv("DITA_GATEWAY_TOKEN", token)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    (problem,) = refused.value.problems
    assert problem.startswith("DITA_GATEWAY_TOKEN: ") and "ASCII" in problem, problem
    assert token.strip() not in problem  # a secret is never printed


def test_a_printable_ascii_token_is_taken() -> None:
    token = "a-long-token with_inner.space\tand~+/="
    assert GatewaySettings(token=token).token == token
