"""{{secret:NAME}} resolution: env, 0600 file, refusals, redactor registration."""

from __future__ import annotations

import os

import pytest

from agp.errors import SecretError
from agp.journal import SecretRedactor
from agp.sandbox.secrets import SecretResolver, contains_placeholder, placeholder_names

VALUE = "s3cr3t-value-9f8e7d"


def test_env_lookup_and_redactor_registration():
    red = SecretRedactor()
    r = SecretResolver(redactor=red, environ={"AGP_SECRET_DB_PASSWORD": VALUE})
    out = r.resolve({"cmd": "psql -p {{secret:DB_PASSWORD}}", "list": ["{{secret:DB_PASSWORD}}", 3]})
    assert out == {"cmd": f"psql -p {VALUE}", "list": [VALUE, 3]}
    assert red.names == ("DB_PASSWORD",)
    assert red.redact({"x": f"a {VALUE} b"}) == {"x": "a {{secret:DB_PASSWORD}} b"}
    assert r.used == {"DB_PASSWORD"}


def test_unresolved_name_fails_the_call():
    r = SecretResolver(environ={}, secrets_file=None)
    with pytest.raises(SecretError, match="NOPE"):
        r.resolve({"cmd": "echo {{secret:NOPE}}"})


def test_empty_value_is_unresolved():
    with pytest.raises(SecretError):
        SecretResolver(environ={"AGP_SECRET_E": ""}).resolve_text("{{secret:E}}")


@pytest.mark.parametrize("text", ["{{secret:bad-name}}", "{{ secret:X }}", "{{SECRET:X}}", "{{secret:}}"])
def test_malformed_placeholders_fail_closed(text):
    assert contains_placeholder(text)
    with pytest.raises(SecretError, match="malformed"):
        SecretResolver(environ={"AGP_SECRET_X": VALUE}).resolve_text(text)


def test_secrets_file_0600_is_used(tmp_path):
    f = tmp_path / "secrets"
    f.write_text(f"# comment\nAPI_TOKEN={VALUE}\nOTHER=x\n")
    f.chmod(0o600)
    r = SecretResolver(environ={}, secrets_file=f)
    assert r.resolve_text("t={{secret:API_TOKEN}}") == f"t={VALUE}"


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o666])
def test_looser_secrets_file_is_refused(tmp_path, mode):
    f = tmp_path / "secrets"
    f.write_text(f"API_TOKEN={VALUE}\n")
    f.chmod(mode)
    with pytest.raises(SecretError, match="mode"):
        SecretResolver(environ={}, secrets_file=f).resolve_text("{{secret:API_TOKEN}}")


def test_symlinked_secrets_file_is_refused(tmp_path):
    real = tmp_path / "real"
    real.write_text(f"API_TOKEN={VALUE}\n")
    real.chmod(0o600)
    link = tmp_path / "secrets"
    link.symlink_to(real)
    with pytest.raises(SecretError, match="cannot open"):
        SecretResolver(environ={}, secrets_file=link).resolve_text("{{secret:API_TOKEN}}")


def test_env_wins_over_file(tmp_path):
    f = tmp_path / "secrets"
    f.write_text("A=from-file-xxxx\n")
    f.chmod(0o600)
    r = SecretResolver(environ={"AGP_SECRET_A": "from-env-yyyy"}, secrets_file=f)
    assert r.resolve_text("{{secret:A}}") == "from-env-yyyy"


def test_short_value_cannot_be_redacted_so_it_is_refused():
    with pytest.raises(SecretError, match="redacted"):
        SecretResolver(redactor=SecretRedactor(), environ={"AGP_SECRET_S": "ab"}).resolve_text("{{secret:S}}")


def test_placeholder_names():
    assert placeholder_names({"{{secret:K}}": ["x {{secret:A}} {{secret:B}}"], "n": 1}) == {"K", "A", "B"}


def test_no_placeholder_is_untouched():
    assert SecretResolver(environ={}).resolve({"a": "plain {{not a secret}}"}) == {"a": "plain {{not a secret}}"}


def test_default_file_location(monkeypatch, tmp_path):
    monkeypatch.setenv("AGP_HOME", str(tmp_path))
    monkeypatch.delenv("AGP_SECRETS_FILE", raising=False)
    (tmp_path / "secrets").write_text(f"Z={VALUE}\n")
    os.chmod(tmp_path / "secrets", 0o600)
    assert SecretResolver(environ={}).resolve_text("{{secret:Z}}") == VALUE
