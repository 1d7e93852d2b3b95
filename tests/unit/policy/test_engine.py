"""agp/policy/engine.py: the decision procedure on classified statements (no classifier involved)."""

import datetime as dt
import json

import pytest

from agp.policy import ClassifiedCall, ClassifiedStatement, PathFact, Policy, ToolCall, evaluate_classified
from agp.policy.model import parse_policy_text
from tests.support.cpu_ceiling import cpu_ceiling_fixture

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
WS = "/ws"


def pol(*texts: str, names=None) -> Policy:
    return Policy([parse_policy_text(t) for t in texts], names)


def rules(*rules: str, header: str = "") -> str:
    return header + "\n".join(f"[[rule]]\n{r.strip()}\n" for r in rules)


def call(tool="Bash", harness="claude-code") -> ToolCall:
    return ToolCall(harness=harness, tool=tool, input={}, cwd=WS, workspace=WS, session="s")


def inside(p: str) -> PathFact:
    return PathFact(p, f"{WS}/{p}", "inside")


def outside(p: str) -> PathFact:
    return PathFact(p, p, "outside")


RUNTIME = PathFact("$X", None, None)


def ex(*argv, literal=None, paths=(), via=(), facts=()) -> ClassifiedStatement:
    return ClassifiedStatement(kind="exec", text=" ".join(argv), program=argv[0].rsplit("/", 1)[-1], argv=tuple(argv),
                               literal=tuple(literal) if literal else (), paths=tuple(paths), via=via, facts=facts)


def decide(policy, *stmts, tool="Bash", harness="claude-code", now=NOW):
    return evaluate_classified(ClassifiedCall(call(tool, harness), tuple(stmts)), policy, now)


# each test here fails, rather than hangs, past 5 s of CPU time (each takes milliseconds): the
# matchers loop over a command's words, which come from the agent
_cpu_ceiling = cpu_ceiling_fixture(5.0)

ALLOW_LS = 'id = "ls"\neffect = "allow"\nprogram = "ls"\nlocation = ["inside", "root"]'


# ------------------------------------------------------------------ order and defaults


def test_no_matching_rule_denies_and_says_so():
    d = decide(pol(rules(ALLOW_LS)), ex("cat", "a", paths=[inside("a")]))
    assert d.effect == "deny" and d.rule is None and d.matched == ()
    assert d.reason == "denied: no rule allows statement: `cat a`"


def test_empty_policy_denies_everything():
    for p in (Policy.empty(), pol("")):
        d = decide(p, ex("ls"))
        assert d.effect == "deny"
        d = decide(p, ClassifiedStatement(kind="read", text="Read x", paths=(inside("x"),)), tool="Read")
        assert d.effect == "deny"


def test_a_call_with_no_statement_is_denied_not_vacuously_allowed():
    d = evaluate_classified(ClassifiedCall(call(), ()), pol(rules(ALLOW_LS)), NOW)
    assert d.effect == "deny" and "does nothing agp can recognise" in d.reason


def test_deny_beats_require_beats_allow_within_a_statement():
    a = 'id = "a"\neffect = "allow"\nprogram = "rm"'
    r = 'id = "r"\neffect = "require"\nprogram = "rm"'
    dn = 'id = "d"\neffect = "deny"\nprogram = "rm"'
    s = ex("rm", "x")
    assert decide(pol(rules(a)), s).effect == "allow"
    assert decide(pol(rules(a, r)), s).effect == "require"
    for order in ((a, r, dn), (dn, r, a), (r, dn, a)):
        d = decide(pol(rules(*order)), s)
        assert d.effect == "deny" and d.rule == "d" and set(d.matched) == {"a", "r", "d"}


def test_every_statement_must_be_allowed_and_the_reason_names_the_statement():
    p = pol(rules(ALLOW_LS, 'id = "no-curl"\neffect = "deny"\ndescription = "network tools"\nprogram = "curl"'))
    d = decide(p, ex("ls", paths=[]), ex("curl", "http://x"), ex("ls"))
    assert d.effect == "deny" and d.rule == "no-curl"
    assert d.reason == "denied by rule no-curl: network tools (statement 2 of 3: `curl http://x`)"
    assert [s.effect for s in d.statements] == ["allow", "deny", "allow"]
    d = decide(p, ex("ls"), ex("ls"))
    assert d.effect == "allow" and d.reason == "allowed by rule ls"


def test_the_first_strictest_statement_decides():
    p = pol(rules(ALLOW_LS, 'id = "r"\neffect = "require"\nprogram = "touch"', 'id = "d"\neffect = "deny"\nprogram = "dd"'))
    d = decide(p, ex("touch", "a"), ex("dd"), ex("touch", "b"))
    assert d.rule == "d" and "statement 2 of 3" in d.reason
    d = decide(p, ex("ls"), ex("touch", "a"))
    assert d.effect == "require" and d.rule == "r" and "statement 2 of 2" in d.reason


def test_reason_carries_no_internals():
    p = pol(rules('id = "d"\neffect = "deny"\nprogram = "curl"'), names=["/etc/agp/org-policy.toml"])
    d = decide(p, ex("curl", "x"))
    assert p.digest not in d.reason and "/etc/agp" not in d.reason and "Traceback" not in d.reason


def test_long_statement_text_is_shortened_in_the_reason():
    d = decide(Policy.empty(), ex("echo", "x" * 1000))
    assert len(d.reason) < 260 and d.reason.endswith("…`")


# ------------------------------------------------------------------ unknown statements


UNKNOWN = ClassifiedStatement(kind="unknown", text='eval "$X"', reason="eval runs a string decided at run time")


def test_unknown_statements_are_matched_only_by_rules_that_say_unknown():
    everything = [f'id = "k{k}"\neffect = "allow"\nkind = "{k}"' for k in ("exec", "read", "write", "sql", "url", "mcp", "task")]
    d = decide(pol(rules(*everything, 'id = "t"\neffect = "allow"\ntool = "*"')), UNKNOWN)
    assert d.effect == "deny" and d.matched == ()
    assert d.reason == 'denied: no rule allows statement: `eval "$X"` (eval runs a string decided at run time)'
    d = decide(pol(rules('id = "u"\neffect = "allow"\nunknown = true\ntool = "Bash"')), UNKNOWN)
    assert d.effect == "allow" and d.rule == "u"
    d = decide(pol(rules('id = "u"\neffect = "allow"\nunknown = true\ntool = "Bash"')), UNKNOWN, tool="Other")
    assert d.effect == "deny"


# ------------------------------------------------------------------ three-valued matching


def test_a_run_time_word_never_helps_an_allow_and_always_feeds_a_deny():
    allow_sed = 'id = "sed"\neffect = "allow"\nprogram = "sed"\nflags_none = ["-i"]'
    deny_rm = 'id = "rm"\neffect = "deny"\nprogram = "rm"\nflags_any = ["-r", "-f"]'
    allow_rm = 'id = "rm-ok"\neffect = "allow"\nprogram = "rm"'
    p = pol(rules(allow_sed, deny_rm, allow_rm))
    assert decide(p, ex("sed", "s/a/b/", "f")).effect == "allow"
    assert decide(p, ex("sed", "$OPT", "f", literal=[True, False, True])).effect == "deny"
    assert decide(p, ex("rm", "x")).effect == "allow"
    d = decide(p, ex("rm", "$F", literal=[True, False]))
    assert d.effect == "deny" and d.rule == "rm"


def test_run_time_paths_fail_inside_rules_and_hit_outside_rules():
    p = pol(rules(ALLOW_LS, 'id = "out"\neffect = "deny"\ntouches = ["outside"]'))
    assert decide(p, ex("ls", "a", paths=[inside("a")])).effect == "allow"
    d = decide(p, ex("ls", "$X", literal=[True, False], paths=[RUNTIME]))
    assert d.effect == "deny" and d.rule == "out"
    d = decide(pol(rules(ALLOW_LS)), ex("ls", "$X", literal=[True, False], paths=[RUNTIME]))
    assert d.effect == "deny" and d.rule is None


@pytest.mark.parametrize(
    "pattern, words, expect",
    [
        ("-r", ["-r"], "deny"),
        ("-r", ["-rf"], "deny"),
        ("-r", ["-fr"], "deny"),
        ("-r", ["-f"], "allow"),
        ("-r", ["--recursive"], "allow"),
        ("--recursive", ["--recursive"], "deny"),
        ("--recursive", ["--rec"], "deny"),
        ("--recursive", ["--recursive=yes"], "deny"),
        ("--recursive", ["--r"], "deny"),
        ("--recursive", ["--reflink"], "allow"),
        ("--recursive", ["-r"], "allow"),
        ("-exec", ["-execdir"], "deny"),
        ("-exec", ["-exe"], "allow"),
        ("-delete", ["-delete"], "deny"),
        ("-i*", ["-i.bak"], "deny"),
        ("-i*", ["-n"], "allow"),
        ("-r", ["x-r", "r"], "allow"),
        ("-r", ["-"], "allow"),
    ],
)
def test_flag_matching(pattern, words, expect):
    p = pol(rules('id = "a"\neffect = "allow"\nprogram = "t"', f'id = "d"\neffect = "deny"\nprogram = "t"\nflags_any = ["{pattern}"]'))
    assert decide(p, ex("t", *words)).effect == expect


def test_flags_none_refuses_clusters_and_abbreviations_it_cannot_rule_out():
    p = pol(rules('id = "a"\neffect = "allow"\nprogram = "sed"\nflags_none = ["-i", "--in-place"]'))
    assert decide(p, ex("sed", "-n", "p")).effect == "allow"
    assert decide(p, ex("sed", "-ni", "p")).effect == "deny"      # -n -i, or -n with a value
    assert decide(p, ex("sed", "--in", "p")).effect == "deny"     # abbreviation of --in-place
    assert decide(p, ex("sed", "--expression=p")).effect == "allow"


def test_subcommand_skips_options_with_values_and_a_deny_considers_later_operands():
    p = pol(rules(
        'id = "read"\neffect = "allow"\nprogram = "git"\nsubcommand = ["status", "log"]',
        'id = "fp"\neffect = "deny"\nprogram = "git"\nsubcommand = "push"\nflags_any = ["--force", "-f"]',
        'id = "push"\neffect = "allow"\nprogram = "git"\nsubcommand = "push"',
    ))
    assert decide(p, ex("git", "status")).effect == "allow"
    assert decide(p, ex("git", "-C", "sub", "log")).effect == "allow"
    assert decide(p, ex("git", "--no-pager", "log")).effect == "allow"
    assert decide(p, ex("git", "push", "origin")).effect == "allow"
    assert decide(p, ex("git", "push", "--force")).rule == "fp"
    assert decide(p, ex("git", "-C", "x", "push", "-f")).rule == "fp"
    # an option agp does not know might take a value: the deny still matches, the allow does not
    assert decide(p, ex("git", "--unknown-opt", "x", "push", "-f")).rule == "fp"
    d = decide(p, ex("git", "$SUB", literal=[True, False]))
    assert d.effect == "deny"


def test_args_prefix_operands_max_and_regex_args():
    p = pol(rules(
        'id = "pytest"\neffect = "allow"\nprogram = "python"\nargs_prefix = ["-m pytest", "-m unittest"]',
        'id = "uniq"\neffect = "allow"\nprogram = "uniq"\noperands_max = 1',
        'id = "suid"\neffect = "deny"\nprogram = "chmod"\nargs_any = ["re:^[ugoa]*[-+=][rwxXt]*s", "re:^[0-7]?[2-7][0-7]{3}$"]',
        'id = "chmod"\neffect = "allow"\nprogram = "chmod"',
    ))
    assert decide(p, ex("python", "-m", "pytest", "-q")).effect == "allow"
    assert decide(p, ex("python", "-m", "unittest")).effect == "allow"
    assert decide(p, ex("python", "evil.py", "-m", "pytest")).effect == "deny"
    assert decide(p, ex("python", "-m")).effect == "deny"
    assert decide(p, ex("python", "-m", "$M", literal=[True, True, False])).effect == "deny"
    assert decide(p, ex("uniq", "-c", "in.txt")).effect == "allow"
    assert decide(p, ex("uniq", "in.txt", "out.txt")).effect == "deny"
    assert decide(p, ex("uniq", "$@", literal=[True, False])).effect == "deny"
    for mode in ("u+s", "g+s", "+s", "4755", "2755", "06755", "a=rwxs"):
        assert decide(p, ex("chmod", mode, "f")).rule == "suid", mode
    for mode in ("755", "0644", "u+x", "go-w"):
        assert decide(p, ex("chmod", mode, "f")).effect == "allow", mode


def test_location_is_every_path_and_touches_is_some_path():
    p = pol(rules('id = "cp"\neffect = "allow"\nprogram = "cp"\nlocation = ["inside"]',
                  'id = "root"\neffect = "deny"\nprogram = "cp"\ntouches = ["root"]'))
    assert decide(p, ex("cp", "a", "b", paths=[inside("a"), inside("b")])).effect == "allow"
    assert decide(p, ex("cp", "a", "/etc/x", paths=[inside("a"), outside("/etc/x")])).effect == "deny"
    d = decide(p, ex("cp", "a", ".", paths=[inside("a"), PathFact(".", WS, "root")]))
    assert d.rule == "root"
    assert decide(p, ex("cp")).effect == "allow"  # no paths: nothing outside


def test_path_globs_relative_to_the_workspace_and_absolute():
    p = pol(rules('id = "src"\neffect = "allow"\nkind = "write"\npath = ["src/**", "docs/*.md"]',
                  'id = "tmp"\neffect = "allow"\nkind = "write"\npath = ["/tmp/agp-*/**"]',
                  'id = "env"\neffect = "deny"\nkind = "write"\ntouches_path = ["**/.env", ".git/hooks/**"]'))
    w = lambda *ps: ClassifiedStatement(kind="write", text="w", paths=tuple(ps))  # noqa: E731
    assert decide(p, w(inside("src/a/b.py"))).effect == "allow"
    assert decide(p, w(inside("src"))).effect == "allow"
    assert decide(p, w(inside("docs/a.md"))).effect == "allow"
    assert decide(p, w(inside("docs/x/a.md"))).effect == "deny"
    assert decide(p, w(inside("srcx/a.py"))).effect == "deny"
    assert decide(p, w(outside("/tmp/agp-1/x/y"))).effect == "allow"
    assert decide(p, w(outside("/src/a.py"))).effect == "deny"
    assert decide(p, w(inside("src/.env"))).rule == "env"
    assert decide(p, w(inside(".git/hooks/pre-commit"))).rule == "env"
    assert decide(p, w(RUNTIME)).rule == "env"


def test_sql_host_and_mcp_matchers():
    p = pol(rules(
        'id = "sel"\neffect = "allow"\nsql_kind = ["select"]',
        'id = "nowhere"\neffect = "deny"\nsql_flags_any = ["no_where"]',
        'id = "upd"\neffect = "require"\nsql_kind = ["update", "delete"]',
        'id = "gh"\neffect = "allow"\nhost = ["*.github.com", "github.com"]',
        'id = "mcp"\neffect = "allow"\nmcp_server = "db"\nmcp_tool = ["query", "list_*"]',
    ))
    sql = lambda k, *f: ClassifiedStatement(kind="sql", text=k, sql_kind=k, sql_flags=f)  # noqa: E731
    assert decide(p, sql("select")).effect == "allow"
    assert decide(p, sql("update")).effect == "require"
    assert decide(p, sql("delete", "no_where")).rule == "nowhere"
    assert decide(p, sql("ddl")).effect == "deny"
    url = lambda h: ClassifiedStatement(kind="url", text="u", host=h)  # noqa: E731
    assert decide(p, url("api.GitHub.com")).effect == "allow"
    assert decide(p, url("github.com.evil.example")).effect == "deny"
    assert decide(p, url(None)).effect == "deny"
    m = lambda s, t: ClassifiedStatement(kind="mcp", text="m", mcp_server=s, mcp_tool=t)  # noqa: E731
    assert decide(p, m("db", "list_tables")).effect == "allow"
    assert decide(p, m("db", "drop")).effect == "deny"
    assert decide(p, m("dbx", "query")).effect == "deny"


def test_harness_and_tool_globs():
    p = pol(rules('id = "a"\neffect = "allow"\nharness = "codex"\ntool = "mcp__*"\nkind = "mcp"'))
    s = ClassifiedStatement(kind="mcp", text="m", mcp_server="x", mcp_tool="y")
    assert decide(p, s, tool="mcp__x__y", harness="codex").effect == "allow"
    assert decide(p, s, tool="mcp__x__y", harness="claude-code").effect == "deny"
    assert decide(p, s, tool="Bash", harness="codex").effect == "deny"


# ------------------------------------------------------------------ require, approvals, tiers, time


def test_require_carries_approver_group_and_quorum():
    p = pol(rules('id = "c"\neffect = "require"\nprogram = "git"\napprover_group = "maintainers"\nquorum = 2'))
    d = decide(p, ex("git", "commit"))
    assert (d.effect, d.approver_group, d.quorum) == ("require", "maintainers", 2)
    assert d.reason == "approval required by rule c (statement: `git commit`)"


def test_statements_needing_different_approver_groups_are_denied():
    p = pol(rules('id = "a"\neffect = "require"\nprogram = "git"\napprover_group = "devs"',
                  'id = "b"\neffect = "require"\nprogram = "psql"\napprover_group = "dba"'))
    d = decide(p, ex("git", "commit"), ex("psql"))
    assert d.effect == "deny" and "different groups (dba, devs)" in d.reason
    d = decide(p, ex("git", "commit"), ex("git", "tag"))
    assert d.effect == "require" and d.approver_group == "devs" and d.quorum == 1


def test_approvals_false_turns_require_into_deny_naming_the_rule():
    p = pol(rules('id = "c"\neffect = "require"\nprogram = "git"', header='[policy]\napprovals = false\n'))
    d = decide(p, ex("git", "commit"))
    assert d.effect == "deny" and d.rule == "c" and "approvals = false" in d.reason


def test_tiers_are_strictest_wins_in_either_order():
    org = rules('id = "org-no-curl"\neffect = "deny"\nprogram = "curl"')
    user = rules('id = "user-curl"\neffect = "allow"\nprogram = "curl"', 'id = "user-ls"\neffect = "allow"\nprogram = "ls"')
    for p in (pol(org, user), pol(user, org)):
        assert decide(p, ex("curl", "x")).rule == "org-no-curl"
        assert decide(p, ex("ls")).effect == "allow"  # the org tier abstains on ls


def test_an_allow_list_tier_must_itself_allow_every_statement():
    org = rules('id = "org-ls"\neffect = "allow"\nprogram = "ls"', header='[policy]\nno_match = "deny"\n')
    user = rules('id = "user-cat"\neffect = "allow"\nprogram = "cat"', 'id = "user-ls"\neffect = "allow"\nprogram = "ls"')
    p = pol(org, user)
    assert decide(p, ex("ls")).effect == "allow"
    d = decide(p, ex("cat", "f"))
    assert d.effect == "deny" and d.matched == ("user-cat",)


def test_a_require_in_one_tier_beats_an_allow_in_another():
    p = pol(rules('id = "r"\neffect = "require"\nprogram = "git"'), rules('id = "a"\neffect = "allow"\nprogram = "git"'))
    assert decide(p, ex("git", "commit")).effect == "require"


def test_rules_are_in_force_only_between_not_before_and_not_after():
    p = pol(rules('id = "t"\neffect = "allow"\nprogram = "ls"\nnot_before = 2026-11-23T09:00:00Z\nnot_after = 2026-11-23T11:00:00+00:00'))
    assert decide(p, ex("ls"), now=NOW).effect == "allow"
    assert decide(p, ex("ls"), now=NOW - dt.timedelta(hours=2)).effect == "deny"
    assert decide(p, ex("ls"), now=NOW + dt.timedelta(hours=1)).effect == "deny"  # not_after is exclusive
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(p, ex("ls"), now=dt.datetime(2026, 1, 1))


# ------------------------------------------------------------------ output


def test_decision_json_is_complete_and_serializable():
    p = pol(rules(ALLOW_LS))
    d = decide(p, ex("ls", "$D", literal=[True, False], paths=[RUNTIME]))
    j = json.loads(json.dumps(d.to_json_dict()))
    assert set(j) == {"effect", "rule", "matched", "reason", "policy_digest", "statements", "approver_group", "quorum"}
    assert j["policy_digest"] == p.digest and len(p.digest) == 64
    st = j["statements"][0]
    assert st["argv"] == ["ls", {"runtime": "$D"}] and st["paths"] == [{"written": "$X", "path": None, "location": "unknown"}]
    assert st["effect"] == "deny" and st["matched"] == []


def test_statement_literal_must_match_argv_length():
    with pytest.raises(ValueError):
        ClassifiedStatement(kind="exec", text="x", argv=("a", "b"), literal=(True,))


def test_a_wildcard_path_is_sure_only_for_directory_tree_rules():
    p = pol(rules('id = "src"\neffect = "allow"\nkind = "write"\npath = ["src/**"]',
                  'id = "txt"\neffect = "allow"\nkind = "write"\npath = ["docs/*.txt"]',
                  'id = "hooks"\neffect = "deny"\nkind = "write"\ntouches_path = [".git/hooks/**"]'))
    w = lambda p: ClassifiedStatement(kind="write", text="w", paths=(p,))  # noqa: E731
    g = lambda d, loc="inside": PathFact(d + "/*", d if d.startswith("/") else f"{WS}/{d}", loc, glob=True)  # noqa: E731
    assert decide(p, w(g("src/a"))).effect == "allow"          # src/a/* lies under src/**
    assert decide(p, w(g("docs"))).effect == "deny"            # docs/* might not be *.txt
    assert decide(p, w(g(".git"))).rule == "hooks"             # .git/* might be .git/hooks
    assert decide(p, w(g(".git/hoo"))).effect == "deny"        # .git/hoo*/x: maybe hooks -> the deny holds
    assert decide(p, w(PathFact("*", WS, "root", glob=True))).rule == "hooks"
    assert decide(p, w(g("lib"))).effect == "deny" and decide(p, w(g("lib"))).rule is None


def test_operands_min_and_max_count_run_time_words_as_anything():
    p = pol(rules('id = "list"\neffect = "allow"\nprogram = "git"\nsubcommand = "branch"\noperands_max = 1',
                  'id = "create"\neffect = "require"\nprogram = "git"\nsubcommand = "branch"\noperands_min = 2'))
    assert decide(p, ex("git", "branch", "-a")).effect == "allow"
    assert decide(p, ex("git", "branch", "topic")).effect == "require"
    assert decide(p, ex("git", "branch", "$B", literal=[True, True, False])).effect == "deny"  # 1 or 2 operands
    p = pol(rules('id = "d"\neffect = "deny"\nprogram = "x"\noperands_min = 2', 'id = "a"\neffect = "allow"\nprogram = "x"'))
    assert decide(p, ex("x", "a")).effect == "allow"
    assert decide(p, ex("x", "a", "b")).effect == "deny"
    assert decide(p, ex("x", "$@", literal=[True, False])).effect == "deny"


def test_statement_json_names_the_deciding_rule():
    d = decide(pol(rules(ALLOW_LS)), ex("ls", "a", paths=[inside("a")]))
    (st,) = d.to_json_dict()["statements"]
    assert (st["effect"], st["rule"], st["matched"]) == ("allow", "ls", ["ls"])


# ------------------------------------------------------------------ matcher edges


def _flags_rule(*patterns: str) -> Policy:
    return pol(rules(f'id = "f"\neffect = "allow"\nprogram = "ls"\nflags_any = {json.dumps(list(patterns))}'))


def test_a_glob_option_pattern_matches_options_only():
    p = _flags_rule("-*")
    assert decide(p, ex("ls", "-l")).effect == "allow"
    for word in ("-", "x", "l-"):  # a lone dash is stdin, an operand: no option at all
        assert decide(p, ex("ls", word)).effect == "deny", word


def test_a_glob_option_pattern_matches_the_name_before_an_attached_value():
    p = _flags_rule("--colo?")
    for word in ("--color", "--color=auto", "--color=a=b"):
        assert decide(p, ex("ls", word)).effect == "allow", word
    assert decide(_flags_rule("--col?r=a"), ex("ls", "--color=a")).effect == "allow"
    for word in ("--colors=auto", "--colour=auto", "-color=auto", "--color auto"):
        assert decide(p, ex("ls", word)).effect == "deny", word


def test_a_long_option_pattern_reads_the_name_before_the_first_equals_sign():
    p = _flags_rule("--color")
    for word in ("--color", "--color=auto", "--color=a=b", "--color="):
        assert decide(p, ex("ls", word)).effect == "allow", word
    for word in ("--colors", "--colour=a=b", "-color"):
        assert decide(p, ex("ls", word)).effect == "deny", word


def test_the_end_of_options_marker_is_no_long_option():
    assert decide(_flags_rule("--"), ex("ls", "--", "x")).effect == "deny"


def test_regex_words_longer_than_the_limit_are_maybe():
    from agp.policy.engine import REGEX_WORD_MAX

    allow = pol(rules('id = "a"\neffect = "allow"\nprogram = "echo"\nargs_any = ["re:^x+$"]'))
    deny = pol(rules('id = "d"\neffect = "deny"\nprogram = "echo"\nargs_none = ["re:^x+$"]',
                     'id = "a"\neffect = "allow"\nprogram = "echo"'))
    at, over = "x" * REGEX_WORD_MAX, "x" * (REGEX_WORD_MAX + 1)
    assert decide(allow, ex("echo", at)).effect == "allow"  # searched: a definite yes
    assert decide(allow, ex("echo", over)).effect == "deny"  # not searched: maybe, and an allow needs a yes
    assert decide(deny, ex("echo", at)).effect == "allow"  # searched: args_none is definitely false -> no deny
    assert decide(deny, ex("echo", over)).effect == "deny"  # maybe: a deny rule matches on a maybe


@pytest.mark.parametrize(
    "glob, path",
    [("src/**/x.py", "src/a/x.py"), ("src/**/x.py", "src/x.py"), ("ab*", "abc.txt"), ("ab*/c", "abd/c"),
     ("src/a*/b.py", "src/ax/b.py"), ("src/ab*", "src/abc.txt"), ("x.py", "x.py"), ("src/x.py", "src/x.py")],
)
def test_the_path_index_never_hides_a_rule_that_matches(glob, path):
    p = pol(rules(f'id = "r"\neffect = "allow"\nprogram = "cat"\npath = ["{glob}"]'))
    assert decide(p, ex("cat", path, paths=[inside(path)])).effect == "allow"


def test_a_rule_for_the_workspace_itself_is_not_hidden_by_the_path_index():
    p = pol(rules('id = "r"\neffect = "allow"\nprogram = "ls"\npath = ["."]'))
    assert decide(p, ex("ls", ".", paths=[PathFact(".", WS, "root")])).effect == "allow"
    assert decide(p, ex("ls", "a", paths=[inside("a")])).effect == "deny"


def test_a_deny_rule_meets_a_wildcard_path_by_whole_directories():
    p = pol(rules('id = "no-x"\neffect = "deny"\nkind = "write"\npath = ["src/x.py"]',
                  'id = "no-gen"\neffect = "deny"\nkind = "write"\npath = ["lib/**/gen.py"]',
                  'id = "any"\neffect = "allow"\nkind = "write"'))
    w = lambda d: ClassifiedStatement(kind="write", text="w", paths=(PathFact(d + "/*", f"{WS}/{d}", "inside", glob=True),))  # noqa: E731
    assert decide(p, w("src")).rule == "no-x"  # src/* may be src/x.py
    assert decide(p, w("src/y")).rule == "any"  # src/y/* never is
    assert decide(p, w("lib")).rule == "no-gen" and decide(p, w("lib/a")).rule == "no-gen"  # lib/a/* may be lib/a/gen.py
    assert decide(p, w("docs")).rule == "any"


def test_only_a_directory_tree_rule_is_sure_of_a_wildcard_path():
    def w(d, loc="inside"):
        path = d if d.startswith("/") else f"{WS}/{d}"
        return ClassifiedStatement(kind="write", text="w", paths=(PathFact(d + "/*", path, loc, glob=True),))

    def allowed(glob, d, loc="inside"):
        p = pol(rules(f'id = "r"\neffect = "allow"\nkind = "write"\npath = ["{glob}"]'))
        return decide(p, w(d, loc)).effect == "allow"

    assert allowed("**", "src") and allowed("**", "src/a")
    assert allowed("/var/**", "/var/x", "outside") and allowed("/data/X/**", "/data/X/sub", "outside")
    assert not allowed("/data/X/**", "/data/Y", "outside")  # a sibling of the tree, not in it
    assert not allowed("src/x.py", "src/x.py")  # a rule for a file is no tree below a directory of that name
    assert not allowed("src/a*/**", "src/b")  # the tree's root is itself a pattern: src/b is not under src/a*
    assert not allowed("src/a*/**", "src/ab")  # ... and even where it may be, it is a maybe, not a yes


def test_the_subcommand_is_the_first_operand_after_the_options():
    p = pol(rules('id = "d"\neffect = "deny"\nprogram = "git"\nsubcommand = "push"',
                  'id = "a"\neffect = "allow"\nprogram = "git"\nsubcommand = ["status", "push"]',
                  'id = "any"\neffect = "allow"\nprogram = "git"'))
    q = pol(rules('id = "a"\neffect = "allow"\nprogram = "git"\nsubcommand = "status"'))
    assert decide(q, ex("git", "--no-pager", "-C", "dir", "status")).effect == "allow"  # -C takes a value
    assert decide(q, ex("git", "-a", "-b", "-c", "k=v", "status")).effect == "allow"
    assert decide(q, ex("git", "-", "status")).effect == "deny"  # a lone dash is an operand: the first one
    assert decide(q, ex("git", "$S", literal=[True, False])).effect == "deny"  # decided at run time: a maybe
    # a deny rule matches on a maybe: a run-time first operand, or the subcommand further on
    assert decide(p, ex("git", "$S", literal=[True, False])).rule == "d"
    assert decide(p, ex("git", "-x", "$S", literal=[True, True, False])).rule == "d"
    assert decide(p, ex("git", "-", "push")).rule == "d"
    assert decide(p, ex("git", "log")).rule == "any"


def test_word_matchers_look_at_the_arguments_not_the_program():
    p = pol(rules('id = "a"\neffect = "allow"\nprogram = "echo"\nargs_any = ["echo"]'))
    assert decide(p, ex("echo", "hi")).effect == "deny"
    assert decide(p, ex("echo", "echo")).effect == "allow"


def test_a_run_time_word_does_not_stop_the_scan_for_a_sure_match():
    p = pol(rules('id = "a"\neffect = "allow"\nprogram = "echo"\nargs_any = ["x"]'))
    assert decide(p, ex("echo", "$A", "x", literal=[True, False, True])).effect == "allow"
    assert decide(p, ex("echo", "$A", "y", literal=[True, False, True])).effect == "deny"


def test_args_prefix_tries_every_alternative_and_never_matches_a_run_time_word():
    p = pol(rules('id = "a"\neffect = "allow"\nprogram = "git"\nargs_prefix = ["push origin main", "push"]'))
    assert decide(p, ex("git", "push")).effect == "allow"  # the first alternative is longer than the call
    q = pol(rules('id = "a"\neffect = "allow"\nprogram = "git"\nargs_prefix = ["push *"]'))
    assert decide(q, ex("git", "push", "topic")).effect == "allow"
    assert decide(q, ex("git", "push", "$BR", literal=[True, True, False])).effect == "deny"  # maybe, not yes


def test_a_lone_dash_counts_as_an_operand():
    p = pol(rules('id = "a"\neffect = "allow"\nprogram = "cat"\noperands_max = 1'))
    assert decide(p, ex("cat", "-n", "x")).effect == "allow"
    assert decide(p, ex("cat", "-", "x")).effect == "deny"  # stdin and x: two operands


def test_facts_any_and_facts_none():
    p = pol(rules('id = "a"\neffect = "allow"\nprogram = "x"\nfacts_any = ["glob", "pipe"]'))
    assert decide(p, ex("x", facts=("pipe",))).effect == "allow"
    assert decide(p, ex("x", facts=("other", "glob"))).effect == "allow"
    assert decide(p, ex("x")).effect == "deny" and decide(p, ex("x", facts=("other",))).effect == "deny"
    q = pol(rules('id = "a"\neffect = "allow"\nprogram = "x"\nfacts_none = ["interpreter"]'))
    assert decide(q, ex("x")).effect == "allow" and decide(q, ex("x", facts=("glob",))).effect == "allow"
    assert decide(q, ex("x", facts=("glob", "interpreter"))).effect == "deny"


def test_an_unknown_sql_kind_is_a_maybe():
    p = pol(rules('id = "d"\neffect = "deny"\nkind = "sql"\nsql_kind = ["ddl"]', 'id = "a"\neffect = "allow"\nkind = "sql"'))
    sql = lambda k: ClassifiedStatement(kind="sql", text="q", sql_kind=k)  # noqa: E731
    assert decide(p, sql("ddl")).rule == "d" and decide(p, sql(None)).rule == "d"  # could be DDL: the deny holds
    assert decide(p, sql("select")).rule == "a"
    q = pol(rules('id = "a"\neffect = "allow"\nkind = "sql"\nsql_kind = ["select"]'))
    assert decide(q, sql("select")).effect == "allow" and decide(q, sql(None)).effect == "deny"


def test_sql_flags_none():
    p = pol(rules('id = "a"\neffect = "allow"\nkind = "sql"\nsql_flags_none = ["no_where"]'))
    sql = lambda *f: ClassifiedStatement(kind="sql", text="q", sql_kind="delete", sql_flags=f)  # noqa: E731
    assert decide(p, sql()).effect == "allow" and decide(p, sql("other")).effect == "allow"
    assert decide(p, sql("other", "no_where")).effect == "deny"


@pytest.mark.parametrize("field, value", [("port", 22), ("method", "DELETE")])
def test_an_unknown_port_or_method_is_a_maybe(field, value):
    p = pol(rules(f'id = "d"\neffect = "deny"\nkind = "egress"\n{field} = [{json.dumps(value)}]',
                  'id = "a"\neffect = "allow"\nkind = "egress"\nhost = ["example.com"]'))
    q = pol(rules(f'id = "a"\neffect = "allow"\nkind = "egress"\n{field} = [{json.dumps(value)}]'))
    eg = lambda **kw: ClassifiedStatement(kind="egress", text="e", host="example.com", **kw)  # noqa: E731
    assert decide(p, eg(**{field: value})).rule == "d" and decide(p, eg()).rule == "d"  # unknown: the deny holds
    assert decide(q, eg(**{field: value})).effect == "allow" and decide(q, eg()).effect == "deny"  # and no allow


def test_not_after_alone_ends_a_rule():
    p = pol(rules('id = "t"\neffect = "allow"\nprogram = "ls"\nnot_after = 2026-11-23T10:00:00Z'))
    assert decide(p, ex("ls"), now=NOW - dt.timedelta(microseconds=1)).effect == "allow"
    assert decide(p, ex("ls"), now=NOW).effect == "deny"


def test_url_path_patterns_and_paths_lose_only_their_leading_slashes():
    p = pol(rules('id = "a"\neffect = "allow"\nkind = "egress"\nhost = ["example.com"]\nurl_path = ["/XRPC/*"]'))
    eg = lambda path: ClassifiedStatement(kind="egress", text="e", host="example.com", port=443, method="GET", url_path=path)  # noqa: E731
    assert decide(p, eg("/XRPC/call")).effect == "allow" and decide(p, eg("XRPC/call")).effect == "allow"
    assert decide(p, eg("/RPC/call")).effect == "deny" and decide(p, eg("/XXRPC/call")).effect == "deny"


@pytest.mark.parametrize("field", ["mcp_server", "mcp_tool"])
def test_an_unknown_mcp_server_or_tool_is_a_maybe(field):
    p = pol(rules(f'id = "d"\neffect = "deny"\nkind = "mcp"\n{field} = ["db*"]', 'id = "a"\neffect = "allow"\nkind = "mcp"'))
    q = pol(rules(f'id = "a"\neffect = "allow"\nkind = "mcp"\n{field} = ["db*"]'))
    mcp = lambda **kw: ClassifiedStatement(kind="mcp", text="m", **kw)  # noqa: E731
    assert decide(p, mcp(**{field: "dbx"})).rule == "d" and decide(p, mcp()).rule == "d"
    assert decide(p, mcp(**{field: "web"})).rule == "a"
    assert decide(q, mcp(**{field: "dbx"})).effect == "allow" and decide(q, mcp()).effect == "deny"


def test_policy_construction_errors_say_what_and_where():
    from agp.errors import PolicyError

    with pytest.raises(PolicyError) as e:
        pol(rules(ALLOW_LS), "", rules(ALLOW_LS), names=["org.toml", "team.toml", "project.toml"])
    assert str(e.value) == "rule id 'ls' appears in both org.toml and project.toml; ids must be unique across tiers"
    with pytest.raises(ValueError, match="^one source name per tier$"):
        Policy([parse_policy_text(""), parse_policy_text("")], ["only-one.toml"])
    with pytest.raises(PolicyError) as e:
        pol(rules('id = "r"\neffect = "allow"\nkind = ["read"]\nprogram = "ls"\nhost = ["x"]'), names=["p.toml"])
    assert str(e.value) == ("p.toml: rule 'r' can never match: its matchers apply to different statement kinds "
                            "(kind = ['read'], with program, host)")
    with pytest.raises(PolicyError) as e:
        pol(rules('id = "r"\neffect = "allow"\nkind = "write"\npath = ["src/[x"]'), names=["p.toml"])
    assert str(e.value) == "p.toml: rule 'r': bad pattern: unterminated character class in glob 'src/[x'"


def test_not_before_is_inclusive():
    p = pol(rules('id = "t"\neffect = "allow"\nprogram = "ls"\nnot_before = 2026-11-23T10:00:00Z'))
    assert decide(p, ex("ls"), now=NOW).effect == "allow"
    assert decide(p, ex("ls"), now=NOW - dt.timedelta(microseconds=1)).effect == "deny"


# ------------------------------------------------------------------ building and naming policies


def test_policy_names_and_repr():
    from agp.policy.model import PolicyFile

    e = Policy.empty()
    assert e.sources == ("<empty>",) and e.rules == ()
    assert repr(e) == f"Policy(tiers=['<empty>'], rules=0, digest={e.digest[:12]}…)"
    pf = parse_policy_text(rules(ALLOW_LS))
    p = Policy.from_files([pf, PolicyFile()], ["org.toml", "team.toml"])
    assert p.tiers == (pf, PolicyFile()) and p.sources == ("org.toml", "team.toml")
    assert repr(p) == f"Policy(tiers=['org.toml', 'team.toml'], rules=1, digest={p.digest[:12]}…)"
    assert Policy.from_files([pf]).sources == ("<tier 0>",)


def test_load_policy_needs_a_file():
    from agp.errors import PolicyError
    from agp.policy.engine import load_policy

    with pytest.raises(PolicyError, match=r"^no policy file given$"):
        load_policy([])


# ------------------------------------------------------------------ the run's copy of the policy


def _plain(tmp_path, name: str, text: str):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def test_run_policy_copy_is_verbatim_only_for_one_plain_file_given_alone(tmp_path):
    from agp.policy.engine import load_policy, write_run_policy
    from agp.policy.project import ProjectPolicy

    a = _plain(tmp_path, "a.toml", f"# policy a: é\n{rules(ALLOW_LS)}")
    b = _plain(tmp_path, "b.toml", "# policy b\n" + rules('id = "cat"\neffect = "allow"\nprogram = "cat"'))
    pa = load_policy(a)
    write_run_policy(pa, tmp_path / "same.toml", [a])
    assert (tmp_path / "same.toml").read_bytes() == a.read_bytes()
    # given names another file than the policy's: written from the policy, not copied from that file
    write_run_policy(pa, tmp_path / "other.toml", [b])
    assert load_policy(tmp_path / "other.toml").digest == pa.digest
    assert "# tier 1: " + str(a) in (tmp_path / "other.toml").read_text(encoding="utf-8")
    # one file given, but a project tier on top: composed, with each tier's source named
    project = ProjectPolicy(parse_policy_text('[policy]\ntighten_only = true\n' + rules('id = "p"\neffect = "deny"\nprogram = "rm"')),
                            "repo/.agp/policy.toml", "c0ffee", "n")
    pp = load_policy(a, project=project)
    write_run_policy(pp, tmp_path / "proj.toml", [a])
    text = (tmp_path / "proj.toml").read_text(encoding="utf-8")
    assert load_policy(tmp_path / "proj.toml").digest == pp.digest
    assert f"# tier 1: {a}" in text and "# tier 2: repo/.agp/policy.toml" in text
    # a file that names `extends` at all (here an empty list) is written composed, not copied
    c = _plain(tmp_path, "c.toml", "extends = []\n" + rules(ALLOW_LS))
    pc = load_policy(c)
    write_run_policy(pc, tmp_path / "c-run.toml", [c])
    assert (tmp_path / "c-run.toml").read_text(encoding="utf-8") != c.read_text(encoding="utf-8")
    assert load_policy(tmp_path / "c-run.toml").digest == pc.digest


def test_run_policy_copy_that_would_digest_differently_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    from agp.errors import PolicyError
    from agp.policy import model
    from agp.policy.engine import load_policy, write_run_policy

    a = _plain(tmp_path, "a.toml", rules(ALLOW_LS))
    b = _plain(tmp_path, "b.toml", rules(ALLOW_LS, 'id = "cat"\neffect = "allow"\nprogram = "cat"'))
    pa, pb = load_policy(a), load_policy(b)
    monkeypatch.setattr(model, "dump_composed_policy", lambda tiers, sources=(): b.read_text())  # a writer gone wrong
    dest = tmp_path / "run" / "policy.toml"
    dest.parent.mkdir()
    with pytest.raises(PolicyError) as e:
        write_run_policy(pa, dest, [])
    assert str(e.value) == f"the policy written to {dest} digests to {pb.digest}, not {pa.digest}"
    assert list(dest.parent.iterdir()) == []  # neither the copy nor its temporary file
