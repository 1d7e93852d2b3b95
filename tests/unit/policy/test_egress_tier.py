"""policies/egress-registries.toml: read-only registries over 443, nothing else; it abstains on tool calls."""

import datetime as dt

import pytest

from agp.paths import repo_root
from agp.policy import ToolCall, evaluate, load_policy
from agp.policy.call import ClassifiedCall, ClassifiedStatement
from agp.policy.engine import evaluate_classified

POLICIES = repo_root() / "policies"
NOW = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def tiers():
    return load_policy(POLICIES / "default.toml")  # which extends the egress tier


def egress(policy, host, port=443, facts=()):
    st = ClassifiedStatement(kind="egress", text=f"CONNECT {host}:{port}", host=host, port=port, facts=facts)
    call = ToolCall("claude-code", "egress", {}, "/workspace", "/workspace")
    return evaluate_classified(ClassifiedCall(call, (st,)), policy, NOW)


@pytest.mark.parametrize("host", ["pypi.org", "files.pythonhosted.org", "registry.npmjs.org", "index.crates.io",
                                  "static.crates.io", "proxy.golang.org", "sum.golang.org", "github.com",
                                  "codeload.github.com"])
def test_registries_allowed(tiers, host):
    assert egress(tiers, host).effect == "allow"


@pytest.mark.parametrize("host,port,facts", [
    ("upload.pypi.org", 443, ()), ("crates.io", 443, ()), ("api.github.com", 443, ()), ("example.com", 443, ()),
    ("pypi.org", 80, ()), ("github.com", 22, ()),
    ("pypi.org", 443, ("private",)),  # a registry name resolving to a private address (rebinding, hijack)
])
def test_everything_else_denied(tiers, host, port, facts):
    assert egress(tiers, host, port, facts).effect == "deny"


def test_the_tier_does_not_change_tool_decisions():
    d = load_policy(POLICIES / "default.toml")
    ids = {r.id for r in load_policy(POLICIES / "egress-registries.toml").rules}
    assert ids and ids <= {r.id for r in d.rules}  # the default policy includes the tier
    for cmd in ("ls", "curl https://pypi.org", "pip install requests", "git push"):
        call = ToolCall("claude-code", "Bash", {"command": cmd}, "/workspace", "/workspace", host_workspace="")
        assert not ids & set(evaluate(call, d, NOW).matched), cmd


def test_a_git_push_to_github_needs_approval(tiers):
    assert egress(tiers, "github.com", facts=("git_push",)).effect == "require"
    assert egress(tiers, "github.com").effect == "allow"
    assert any(r.inspect for r in tiers.rules if "github.com" in (r.host or ()))
