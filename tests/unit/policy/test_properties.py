"""Properties of the engine (hypothesis), through the real classifiers.

- evaluate is deterministic (same call, policy and now: same decision, warm or cold caches);
- adding a deny rule never makes a decision less strict (a deny stays a deny);
- an empty policy denies everything;
- a command the shell parser cannot parse is never allowed, even by a policy that allows every
  kind of statement.
"""

import datetime as dt

import pytest
import tree_sitter
import tree_sitter_bash
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from agp.errors import PolicyError
from agp.paths import repo_root
from agp.policy import (
    ClassifiedCall,
    ClassifiedStatement,
    PathFact,
    Policy,
    PolicyFile,
    Rule,
    ToolCall,
    classify,
    evaluate,
    evaluate_classified,
    load_policy,
)

WS = "/workspace"
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)
RANK = {"allow": 0, "require": 1, "deny": 2}
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------ strategies

PROGRAMS = ["ls", "cat", "rm", "git", "curl", "sed", "find", "echo", "python", "sudo", "xargs", "bash", "sh",
            "env", "tee", "cp", "chmod", "pytest", "npm", "/bin/rm", "./ls", "\\rm", "'r'm", "psql", "eval"]
ARGS = ["-rf", "-r", "-f", "-i", "--force", "--in-place", "push", "status", "commit", "/etc/passwd", "src/a.py",
        "..", "../x", "~", "~/.ssh", "$X", "\"$Y\"", "$(id)", "`id`", "*", "./*", "'a b'", "-exec", "{}", "\\;",
        "-delete", "-c", "-m", "pytest", "/dev/null", "/workspace", ".", "'s/a/b/'", "-n", "install", "x=1", "--"]
OPS = [" ", " ", " ", " && ", " | ", "; ", " || ", " > ", " >> ", " 2>/dev/null ", " < ", " & ", "\n", " $(", ")", "`",
       "'", "\"", " <<EOF\n", "\nEOF\n", " ( ", " ) ", " { ", " ;} ", " <(", "\\"]

token = st.one_of(st.sampled_from(PROGRAMS), st.sampled_from(ARGS), st.sampled_from(OPS))
commands = st.one_of(
    st.lists(token, min_size=1, max_size=14).map("".join),
    st.lists(st.sampled_from(PROGRAMS + ARGS), min_size=1, max_size=6).map(" ".join),
    st.text(max_size=60),
)
paths = st.sampled_from(["src/a.py", "/workspace/x", "/etc/passwd", "../up", "~/.bashrc", "/workspace", "/dev/null",
                         "/workspace/../etc", "", "*.py", "a\x00b"])
calls = st.one_of(
    st.builds(lambda c: ("Bash", {"command": c}), commands),
    st.builds(lambda t, p: (t, {"file_path": p}), st.sampled_from(["Read", "Write", "Edit"]), paths),
    st.builds(lambda p: ("Glob", {"pattern": p}), paths),
    st.builds(lambda u: ("WebFetch", {"url": u}), st.sampled_from(["https://github.com/x", "http://a@b@c/", "nope"])),
    st.builds(lambda q: ("mcp__db__query", {"sql": q}), st.sampled_from(["select 1", "delete from t", "drop table t", "x"])),
    st.builds(lambda t: (t, {}), st.sampled_from(["Task", "TodoWrite", "Nope", "mcp__x__y"])),
)

rule_dicts = st.fixed_dictionaries(
    {"effect": st.sampled_from(["allow", "deny", "require"])},
    optional={
        "tool": st.sampled_from([["Bash"], ["Read", "Glob"], ["Write"], ["*"], ["mcp__*"]]),
        "kind": st.sampled_from([["exec"], ["read"], ["write"], ["exec", "write"], ["url"], ["sql"]]),
        "program": st.sampled_from([["ls"], ["rm"], ["git"], ["curl", "wget"], ["*"], ["sed", "cat"]]),
        "flags_any": st.sampled_from([["-r"], ["--force"], ["-i"]]),
        "flags_none": st.sampled_from([["-r"], ["--force", "-f"], ["-i"]]),
        "subcommand": st.sampled_from([["push"], ["status", "log"]]),
        "location": st.sampled_from([["inside"], ["inside", "root"], ["outside"], ["null", "inside"]]),
        "touches": st.sampled_from([["outside"], ["root"]]),
        "path": st.sampled_from([["src/**"], ["/etc/**"], ["**"]]),
        "sql_kind": st.sampled_from([["select"], ["delete", "update"]]),
        "unknown": st.just(True),
    },
)


def make_rules(dicts, prefix="r"):
    out = []
    for i, d in enumerate(dicts):
        d = dict(d, id=f"{prefix}{i}")
        if d.get("unknown"):
            d = {k: v for k, v in d.items() if k in ("id", "effect", "tool", "unknown")}
        try:
            r = Rule.model_validate(d)
            Policy([PolicyFile(rule=(r,))])  # compiles: matchers that can meet
        except (ValueError, PolicyError):
            continue
        out.append(r)
    return tuple(out)


_BROAD = tuple(Rule(id=f"broad-{k}", effect="allow", kind=(k,)) for k in ("exec", "read", "write", "sql", "url", "mcp", "task"))
# half of the policies start from "allow every known kind", so that allow and require outcomes are common
policies = st.tuples(st.booleans(), st.lists(rule_dicts, max_size=8)).map(
    lambda bl: (_BROAD if bl[0] else ()) + make_rules(bl[1]))


def tool_call(tool, inp, cwd=WS):
    return ToolCall(harness="claude-code", tool=tool, input=inp, cwd=cwd, workspace=WS, session="p", host_workspace="")


# ------------------------------------------------------------------ properties


@SETTINGS
@given(calls, policies)
def test_evaluate_is_deterministic(c, rules):
    tool, inp = c
    call = tool_call(tool, inp)
    p1 = Policy([PolicyFile(rule=rules)])
    first = evaluate(call, p1, NOW).to_json_dict()
    assert evaluate(call, p1, NOW).to_json_dict() == first  # warm candidate cache
    assert evaluate(call, Policy([PolicyFile(rule=rules)]), NOW).to_json_dict() == first  # cold
    assert classify(call) == classify(call)


@SETTINGS
@given(calls, policies, rule_dicts)
def test_adding_a_deny_rule_never_makes_a_decision_less_strict(c, rules, extra):
    (deny,) = make_rules([dict(extra, effect="deny")], prefix="extra") or (None,)
    assume(deny is not None)
    tool, inp = c
    call = tool_call(tool, inp)
    before = evaluate(call, Policy([PolicyFile(rule=rules)]), NOW)
    for after_rules in (rules + (deny,), (deny,) + rules):
        after = evaluate(call, Policy([PolicyFile(rule=after_rules)]), NOW)
        assert RANK[after.effect] >= RANK[before.effect]
        if before.effect == "deny":
            assert after.effect == "deny"
    # as a separate tier, in either order
    tier = PolicyFile(rule=(deny,))
    for tiers in ([PolicyFile(rule=rules), tier], [tier, PolicyFile(rule=rules)]):
        assert RANK[evaluate(call, Policy(tiers), NOW).effect] >= RANK[before.effect]


kinds = st.sampled_from(["exec", "read", "write", "sql", "url", "mcp", "task", "unknown"])
statements = st.builds(
    lambda k, prog, argv, lit, locs: ClassifiedStatement(
        kind=k, text="s", program=prog if k == "exec" else None, argv=tuple(argv) if k == "exec" else (),
        literal=tuple(lit[: len(argv)]) + (True,) * max(0, len(argv) - len(lit)) if k == "exec" else (),
        paths=tuple(PathFact("p", None if loc is None else "/workspace/p", loc) for loc in locs)),
    kinds, st.sampled_from(["ls", "rm", "git", "curl", "sed"]),
    st.lists(st.sampled_from(["x", "-r", "-rf", "--force", "push", "-i", "status"]), max_size=4),
    st.lists(st.booleans(), max_size=4),
    st.lists(st.sampled_from(["inside", "root", "outside", "null", None]), max_size=3),
)


@SETTINGS
@given(st.lists(statements, max_size=4), policies, rule_dicts)
def test_adding_a_deny_rule_is_monotone_on_classified_statements(stmts, rules, extra):
    (deny,) = make_rules([dict(extra, effect="deny")], prefix="extra") or (None,)
    assume(deny is not None)
    cc = ClassifiedCall(tool_call("Bash", {}), tuple(stmts))
    before = evaluate_classified(cc, Policy([PolicyFile(rule=rules)]), NOW)
    after = evaluate_classified(cc, Policy([PolicyFile(rule=rules + (deny,))]), NOW)
    assert RANK[after.effect] >= RANK[before.effect]


@SETTINGS
@given(calls)
def test_an_empty_policy_denies_everything(c):
    tool, inp = c
    call = tool_call(tool, inp)
    for p in (Policy.empty(), Policy([PolicyFile()]), Policy([PolicyFile(), PolicyFile()], ["a", "b"])):
        d = evaluate(call, p, NOW)
        assert d.effect == "deny" and d.rule is None and d.matched == ()


_parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))

# allows every kind of statement anywhere; only unknown statements are left out
PERMISSIVE = Policy([PolicyFile(rule=_BROAD)])


@pytest.fixture(scope="module")
def default_policy():
    return load_policy(repo_root() / "policies" / "default.toml")


def _unparseable(command: str) -> bool:
    """What the classifier refuses before parsing (NUL, CR, characters outside the BMP: tree-sitter-bash
    can crash on those), else what the parser says. Raw strings never reach the parser here either."""
    if "\x00" in command or "\r" in command or (not command.isascii() and max(command) > "\uffff"):
        return True
    try:
        src = command.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return True
    return _parser.parse(src + b"\n").root_node.has_error


# most random strings parse; an unbalanced ending makes parse errors common, so the assume()
# below keeps nearly every example instead of tripping hypothesis's filter_too_much check
_UNBALANCED = ["(", "'", '"', "$(", "{", "<<", "`", ";;", "|", "&&", "))", "fi", "done", "esac", "then", "${", "[["]
broken_commands = st.one_of(
    st.tuples(commands, st.sampled_from(_UNBALANCED)).map(" ".join),
    commands,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(broken_commands)
def test_an_unparseable_command_is_never_allowed(default_policy, command):
    assume(_unparseable(command))
    call = tool_call("Bash", {"command": command})
    for p in (PERMISSIVE, default_policy):
        d = evaluate(call, p, NOW)
        assert d.effect != "allow", (command, d.to_json_dict())


path_globs = st.sampled_from(["src/**", "src/*.py", "src/a/**", "docs/*.md", "**/.env", "**", "/etc/**", "/tmp/*",
                              ".git/hooks/**", "src", "src/a/b.py", "*.txt"])
path_rules = st.lists(st.tuples(st.sampled_from(["allow", "deny", "require"]), st.lists(path_globs, min_size=1, max_size=3),
                                st.booleans()), max_size=10)
facts = st.one_of(
    st.builds(lambda r: PathFact(r, f"{WS}/{r}", "inside"), st.sampled_from(["src/a.py", "src/a/b.py", "docs/x.md", "x.txt",
                                                                          ".env", "src/.env", ".git/hooks/pre-commit", "srcx"])),
    st.builds(lambda r, g: PathFact(r, f"{WS}/{r}", "inside", glob=g), st.sampled_from(["src", "src/a", ".git", "docs"]), st.booleans()),
    st.sampled_from([PathFact(".", WS, "root"), PathFact("*", WS, "root", glob=True), PathFact("/etc/passwd", "/etc/passwd", "outside"),
                     PathFact("/tmp/x", "/tmp/x", "outside"), PathFact("/dev/null", "/dev/null", "null"), PathFact("$X", None, None)]),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path_rules, st.lists(st.lists(facts, max_size=3), min_size=1, max_size=3))
@example([("deny", [".git/hooks/**"], True)], [[PathFact(".git/h*/x", f"{WS}/.git", "inside", glob=True)]])
@example([("allow", ["src/a/**"], True)], [[PathFact("src/a/b.py", f"{WS}/src/a/b.py", "inside")]])
def test_the_path_prefix_index_never_changes_a_decision(specs, stmt_paths):
    rules = tuple(Rule(id=f"p{i}", effect=e, kind=("write",), **({"path": tuple(g)} if every else {"touches_path": tuple(g)}))
                  for i, (e, g, every) in enumerate(specs))
    cc = ClassifiedCall(tool_call("Write", {}), tuple(ClassifiedStatement(kind="write", text="w", paths=tuple(ps))
                                                      for ps in stmt_paths))
    indexed = Policy([PolicyFile(rule=rules)])
    plain = Policy([PolicyFile(rule=rules)])
    for c in plain._rules:
        c.path_prefixes = None  # no skipping: every candidate runs its matchers
    assert evaluate_classified(cc, indexed, NOW).to_json_dict() == evaluate_classified(cc, plain, NOW).to_json_dict()
