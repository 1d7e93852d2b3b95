"""Egress statements: rules reach them only with kind = ["egress"]; port; private = true."""

import datetime as dt

import pytest

from agp.errors import PolicyError
from agp.policy.call import ClassifiedCall, ClassifiedStatement, ToolCall
from agp.policy.engine import Policy, evaluate_classified
from agp.policy.model import parse_policy_text

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)

POLICY = """
[[rule]]
id = "registry"
effect = "allow"
kind = ["egress"]
host = ["registry.example", "*.files.example"]
port = [443]

[[rule]]
id = "mirror"
effect = "allow"
kind = ["egress"]
host = ["mirror.internal"]
private = true

[[rule]]
id = "fetch-anything"
effect = "allow"
host = ["*"]

[[rule]]
id = "ask-git"
effect = "require"
kind = ["egress"]
host = ["git.example"]

[[rule]]
id = "no-bad"
effect = "deny"
kind = ["egress"]
host = ["bad.example"]
"""


def decide(host, port=443, facts=(), policy=POLICY, tool="egress"):
    pol = Policy([parse_policy_text(policy)])
    st = ClassifiedStatement(kind="egress", text=f"CONNECT {host}:{port}", host=host, port=port, facts=facts)
    return evaluate_classified(ClassifiedCall(ToolCall("claude-code", tool, {}, "/w", "/w"), (st,)), pol, NOW)


@pytest.mark.parametrize("host,port,facts,effect,rule", [
    ("registry.example", 443, (), "allow", "registry"),
    ("a.files.example", 443, (), "allow", "registry"),
    ("REGISTRY.example", 443, (), "allow", "registry"),
    ("registry.example", 80, (), "deny", None),          # port not named
    ("other.example", 443, (), "deny", None),            # no rule: no connection (a url rule host=* is not enough)
    ("registry.example", 443, ("private",), "deny", None),  # resolves private, rule lacks private = true
    ("mirror.internal", 8443, ("private",), "allow", "mirror"),
    ("git.example", 443, (), "require", "ask-git"),
    ("bad.example", 443, ("private",), "deny", "no-bad"),  # deny rules match private addresses too
])
def test_egress_matching(host, port, facts, effect, rule):
    d = decide(host, port, facts)
    assert (d.effect, d.rule) == (effect, rule), d.reason


def test_statement_json_carries_port():
    d = decide("registry.example")
    assert d.statements[0].to_json_dict()["port"] == 443


def test_private_needs_named_hosts():
    with pytest.raises(PolicyError, match="private = true needs a host"):
        parse_policy_text('[[rule]]\nid="x"\neffect="allow"\nkind=["egress"]\nprivate=true\n')
    with pytest.raises(PolicyError, match="must name its hosts"):
        parse_policy_text('[[rule]]\nid="x"\neffect="allow"\nkind=["egress"]\nhost=["*"]\nprivate=true\n')


def test_port_bounds():
    with pytest.raises(PolicyError, match="port"):
        parse_policy_text('[[rule]]\nid="x"\neffect="allow"\nkind=["egress"]\nhost=["a"]\nport=[0]\n')
    assert parse_policy_text('[[rule]]\nid="x"\neffect="allow"\nkind=["egress"]\nhost=["a"]\nport=443\n').rule[0].port == (443,)


def test_port_without_egress_kind_never_matches():
    with pytest.raises(PolicyError, match="can never match"):
        Policy([parse_policy_text('[[rule]]\nid="x"\neffect="allow"\nkind=["url"]\nport=[443]\n')])


def test_rules_without_kind_do_not_reach_egress():
    d = decide("registry.example", policy='[[rule]]\nid="t"\neffect="allow"\ntool=["egress"]\n')
    assert d.effect == "deny"


def test_upload_budgets_from_the_policy_smallest_tier_wins():
    from agp._wiring import egress_limits
    from agp.sandbox.egress import EgressLimits

    a = parse_policy_text('[policy]\negress_upload_mb = 10\negress_connection_upload_mb = 2\n')
    b = parse_policy_text('[policy]\negress_upload_mb = 3\n')
    lim = egress_limits(Policy([a, b]))
    assert (lim.upload_per_run, lim.upload_per_connection) == (3_000_000, 2_000_000)
    assert egress_limits(Policy([parse_policy_text("")])) == EgressLimits()
    with pytest.raises(PolicyError):
        parse_policy_text('[policy]\negress_upload_mb = 0\n')


def test_method_and_url_path():
    pol = """
[[rule]]
id = "npm-read"
effect = "allow"
kind = ["egress"]
host = ["registry.example"]
method = ["GET", "HEAD"]
url_path = ["/pkg/**"]
inspect = true
"""
    p = Policy([parse_policy_text(pol)])

    def d(method, path):
        st = ClassifiedStatement(kind="egress", text=f"{method} {path}", host="registry.example", port=443,
                                 method=method, url_path=path)
        return evaluate_classified(ClassifiedCall(ToolCall("claude-code", "egress", {}, "/w", "/w"), (st,)), p, NOW)

    assert d("GET", "/pkg/left-pad").effect == "allow"
    assert d("GET", "/pkg").effect == "allow"
    assert d("PUT", "/pkg/left-pad").effect == "deny"
    assert d("GET", "/-/user/token").effect == "deny"
    assert d(None, None).effect == "deny"  # a tunnel the door does not look into: not this rule's
    with pytest.raises(PolicyError, match="inspect = true"):
        parse_policy_text('[[rule]]\nid="x"\neffect="allow"\nkind=["egress"]\nhost=["*"]\ninspect=true\n')
    with pytest.raises(PolicyError, match="capitals"):
        parse_policy_text('[[rule]]\nid="x"\neffect="allow"\nkind=["egress"]\nhost=["a"]\nmethod=["get"]\n')


def test_credential_header_shape():
    base = '[[rule]]\nid="x"\neffect="allow"\nkind=["egress"]\nhost=["a.example"]\n'
    ok = parse_policy_text(base + 'inspect=true\ncredential_header="Authorization: Bearer {{secret:TOK}}"\n')
    assert ok.rule[0].credential_header.endswith("{{secret:TOK}}")
    for bad in ('credential_header="Authorization: Bearer {{secret:TOK}}"\n',  # not inspected
                'inspect=true\ncredential_header="Authorization: Bearer plain"\n',
                'inspect=true\ncredential_header="Authorization: {{secret:A}} {{secret:B}}"\n',
                'inspect=true\ncredential_header="Bad Name: {{secret:A}}"\n'):
        with pytest.raises(PolicyError, match="credential_header"):
            parse_policy_text(base + bad)
