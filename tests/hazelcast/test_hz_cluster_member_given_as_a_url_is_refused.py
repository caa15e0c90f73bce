"""A cluster member written as a URL (`http://10.0.0.5:5701`) was taken as the host
`http://10.0.0.5`: the command waited out its connect time and said no member let it in, as if
the cluster name were wrong. It is refused naming it, from an option or the variable, before
connecting; a list's entries are read without their spaces, as the text's are."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from dita._hazelcast_client import cluster_settings
from dita.cli import app

URL = "http://127.0.0.1:5916"


def test_a_member_given_as_a_url_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for given in (URL, [URL], f"127.0.0.1:5701,{URL}"):
        with pytest.raises(ValueError, match=re.escape(f"not a URL or path, got {URL!r}")):
            cluster_settings(given, "dita")
    assert cluster_settings([" 127.0.0.1:5701 "], "dita")[0] == ("127.0.0.1:5701",)

    result = CliRunner().invoke(app, ["status", "--hazelcast", URL])
    assert result.exit_code == 2, result.output
    assert f"--hazelcast {URL!r}: cluster member must be host:port, not a URL" in result.stderr
    monkeypatch.setenv("DITA_HAZELCAST_MEMBERS", URL)
    result = CliRunner().invoke(app, ["control", "show"])
    assert result.exit_code == 2, result.output
    assert "$DITA_HAZELCAST_MEMBERS: cluster member must be host:port, not a URL" in result.stderr
