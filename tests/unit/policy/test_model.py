"""agp/policy/model.py and attest.py: loading, validation with line context, the digest."""

import pytest

from agp.errors import PolicyError
from agp.policy import Policy, load_policy, policy_digest
from agp.policy.model import parse_policy_text

BASE = """
[policy]
name = "t"

[[rule]]
id = "ls"
effect = "allow"
program = "ls"
location = ["inside"]
"""


def test_a_minimal_policy_loads_and_lists_are_normalized():
    pf = parse_policy_text(BASE)
    r = pf.rule[0]
    assert r.program == ("ls",) and r.location == ("inside",) and r.effect == "allow"


def test_unknown_key_is_an_error_with_file_line_rule_and_hint():
    text = BASE + '\n[[rule]]\nid = "x"\neffect = "deny"\nprogam = "rm"\n'
    with pytest.raises(PolicyError, match=r"p\.toml:14: rule #2 \('x'\): unknown key 'progam' \(did you mean 'program'\?\)"):
        parse_policy_text(text, source="p.toml")


def test_unknown_key_in_the_policy_table_names_its_line():
    with pytest.raises(PolicyError, match=r"p\.toml:4: \[policy\]: unknown key 'nmae'"):
        parse_policy_text('\n[policy]\nname = "a"\nnmae = "b"\n', source="p.toml")


def test_unknown_top_level_table_is_an_error():
    with pytest.raises(PolicyError, match="unknown key 'rules'"):
        parse_policy_text('[[rules]]\nid = "a"\neffect = "deny"\n', source="p.toml")


def test_bad_toml_is_an_error_with_position():
    with pytest.raises(PolicyError, match=r"p\.toml: not valid TOML: .*line 2"):
        parse_policy_text('[policy]\nname = \n', source="p.toml")


@pytest.mark.parametrize(
    "body, message",
    [
        ('id = "a b"\neffect = "deny"', "rule id must be"),
        ('id = "a"\neffect = "permit"', "effect"),
        ('id = "a"\neffect = "allow"', "needs at least one matcher"),
        ('id = "a"\neffect = "allow"\nunknown = true\nprogram = "ls"', "unknown = true may only use"),
        ('id = "a"\neffect = "allow"\nprogram = "ls"\napprover_group = "ops"', "only for effect"),
        ('id = "a"\neffect = "require"\nprogram = "ls"\nquorum = 0', "greater than or equal to 1"),
        ('id = "a"\neffect = "deny"\nprogram = []', "must not be an empty list"),
        ('id = "a"\neffect = "deny"\nlocation = ["elsewhere"]', "location"),
        ('id = "a"\neffect = "deny"\nsql_kind = ["drop"]', "unknown SQL kind"),
        ('id = "a"\neffect = "deny"\nargs_any = ["re:("]', "bad regular expression"),
        ('id = "a"\neffect = "deny"\nkind = ["unknown"]', "use unknown = true"),
        ('id = "a"\neffect = "deny"\nprogram = "rm"\nnot_before = 2026-01-01T00:00:00', "UTC offset"),
    ],
)
def test_invalid_rules_are_refused_with_a_reason(body, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy_text(f"[[rule]]\n{body}\n", source="p.toml")


def test_duplicate_ids_are_refused_within_and_across_tiers(tmp_path):
    with pytest.raises(PolicyError, match="duplicate rule id 'ls'"):
        parse_policy_text(BASE + '\n[[rule]]\nid = "ls"\neffect = "deny"\nprogram = "ls"\n')
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text(BASE)
    b.write_text(BASE)
    with pytest.raises(PolicyError, match="appears in both"):
        load_policy([a, b])


def test_a_rule_whose_matchers_cannot_meet_is_refused(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text('[[rule]]\nid = "x"\neffect = "allow"\nkind = ["read"]\nprogram = "cat"\n')
    with pytest.raises(PolicyError, match="can never match"):
        load_policy(p)


def test_missing_or_unreadable_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.toml")
    with pytest.raises(PolicyError, match="no policy file"):
        load_policy([])


def test_digest_ignores_comments_layout_and_list_sugar_but_not_rule_changes():
    a = parse_policy_text(BASE)
    b = parse_policy_text('# c\n[policy]\nname="t"\n[[rule]]\neffect="allow"\nlocation="inside"\nid="ls"\nprogram=["ls"]\n')
    assert policy_digest([a]) == policy_digest([b])
    c = parse_policy_text(BASE.replace('"inside"', '"inside", "root"'))
    assert policy_digest([a]) != policy_digest([c])
    d = parse_policy_text(BASE + '\n[[test]]\ntool = "Read"\ninput = {}\nexpect = "deny"\n')
    assert policy_digest([a]) == policy_digest([d]), "examples decide nothing and are not digested"


def test_digest_is_sha256_of_rfc8785_canonical_json():
    import hashlib

    import rfc8785

    from agp.policy import normalized_policy

    pf = parse_policy_text(BASE)
    assert policy_digest([pf]) == hashlib.sha256(rfc8785.dumps(normalized_policy([pf]))).hexdigest()
    assert Policy([pf]).digest == policy_digest([pf])


def test_tier_order_is_part_of_the_digest():
    a = parse_policy_text(BASE)
    b = parse_policy_text(BASE.replace('id = "ls"', 'id = "ls2"'))
    assert Policy([a, b]).digest != Policy([b, a]).digest


def test_shipped_policies_are_valid():
    from agp.paths import repo_root

    for name in ("default", "strict", "ci"):
        p = load_policy(repo_root() / "policies" / f"{name}.toml")
        assert len(p.rules) > 5


def test_digest_ignores_defaults_written_out():
    a = parse_policy_text(BASE)
    b = parse_policy_text(BASE.replace('[policy]\nname = "t"', '[policy]\nname = "t"\nversion = 1\napprovals = true\nno_match = "abstain"')
                          + 'unknown = false\ndescription = ""\n')
    assert policy_digest([a]) == policy_digest([b])
    c = parse_policy_text(BASE.replace('[policy]\nname = "t"', '[policy]\nname = "t"\napprovals = false'))
    assert policy_digest([a]) != policy_digest([c])


def test_every_list_matcher_refuses_an_empty_list_and_an_empty_string() -> None:
    """Each matcher written as a list is checked, and the list of them is derived, not repeated."""
    import typing

    from pydantic import ValidationError

    from agp.policy.model import _CALL_MATCHERS, _LIST_MATCHERS, _STATEMENT_MATCHERS, Rule

    # every Rule field that is a tuple of strings (or of literal names) is a list matcher
    def is_str_tuple(ann: object) -> bool:
        for arg in typing.get_args(ann) or (ann,):
            if typing.get_origin(arg) is typing.Annotated:
                return is_str_tuple(typing.get_args(arg)[0])
            if typing.get_origin(arg) is tuple:
                inner = typing.get_args(arg)[0]
                return inner is str or typing.get_origin(inner) is typing.Literal
        return False

    str_tuples = {name for name, f in Rule.model_fields.items() if is_str_tuple(f.annotation)}
    assert str_tuples == set(_LIST_MATCHERS)
    assert set(_LIST_MATCHERS) < set(_CALL_MATCHERS + _STATEMENT_MATCHERS)
    for name in _LIST_MATCHERS:
        with pytest.raises(ValidationError, match="must not be an empty list"):
            Rule(id="r", effect="deny", **{name: []})
    for name in ("program", "host", "url_path", "tool", "method"):
        with pytest.raises(ValidationError, match="must not contain an empty string"):
            Rule(id="r", effect="deny", **{name: [""]})
