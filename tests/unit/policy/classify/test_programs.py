"""agp/policy/classify/programs: the program tables the shell classifier reads."""

import re

import pytest

from agp.policy.classify.programs import (
    OPTION_VALUES,
    PROGRAMS,
    WRAPPER_OPTS_WITH_ARG,
    Program,
    basics,
    build,
    files,
    git,
    linters,
    network,
    packages,
    readers,
    registry,
    shells,
    sql,
    toolchains,
    wrappers,
)
from agp.policy.classify.shell import classify_shell

FAMILIES = (wrappers, shells, files, git, build, linters, packages, toolchains, network, sql, basics, readers)


def test_a_program_listed_twice_is_refused():
    with pytest.raises(ValueError, match="'rm' is listed twice"):
        registry((Program("rm", writes="operands"),), (Program("rm", network=True),))


def test_every_family_is_in_the_registry():
    assert sum(len(f.PROGRAMS) for f in FAMILIES) == len(PROGRAMS)
    assert all(PROGRAMS[p.name] is p for f in FAMILIES for p in f.PROGRAMS)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_records_are_consistent(name):
    p = PROGRAMS[name]
    assert p.file_options <= p.value_options | p.pair_options or p.operands != "by_options", name
    assert p.pattern_options <= p.value_options or p.operands != "by_options", name
    if p.role != "interpreter":
        assert not p.program_text_options, name
    if p.role != "sql_client":
        assert not p.sql_options and not p.sql_file_options, name
    if p.role != "wrapper":
        assert not p.positionals, name
    for allow in [p.allow, *(a for _, a in p.subcommand_allow)]:
        if allow is None:
            continue
        # a checked value belongs to an option that takes one, and its pattern compiles
        takes = (
            {"-" + c for c in allow.short_values + allow.short_optional}
            | allow.long_values
            | allow.long_optional
            | allow.prefix_values
        )
        for opt, pattern in allow.checked_values:
            assert opt in takes, (name, opt)
            re.compile(pattern)
        assert not allow.prefix_values or allow.style == "single_dash", name


def test_the_walker_reads_the_tables():
    """A value option from the wrapper table is skipped to find the command; the same word after
    an option the table does not list is the command."""
    assert "-u" in WRAPPER_OPTS_WITH_ARG["sudo"]
    assert [s.program for s in classify_shell("sudo -u rm ls", "/w") if s.kind == "exec"] == ["sudo", "ls"]
    assert [s.program for s in classify_shell("sudo -n rm ls", "/w") if s.kind == "exec"] == ["sudo", "rm"]
    # grep is read by its options: -f names a file, -e the pattern (so the first operand is a file)
    arity, file_opts, pattern_opts, pattern_first = OPTION_VALUES["grep"]
    assert arity["-f"] == 1 and "-f" in file_opts and "-e" in pattern_opts and pattern_first
    (st,) = [s for s in classify_shell("grep -e x a.txt", "/w") if s.kind == "exec"]
    assert st.paths == ("/w/a.txt",)


def test_every_program_with_a_rule_of_its_own_is_in_ruled_programs():
    """program_rules skips its chain of per-program rules for a program not in RULED_PROGRAMS: every
    name the chain compares `prog` with (`prog == "x"`, `prog in ("x", ...)`, `prog in SET`) must be
    there, or that program's rule would never run."""
    import ast
    import inspect
    import textwrap

    from agp.policy.classify import _shell_commands as sc

    tree = ast.parse(textwrap.dedent(inspect.getsource(sc.Commands.program_rules)))
    names: set[str] = set()
    sets: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "prog"):
            continue
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.Eq) and isinstance(right, ast.Constant):
                names.add(right.value)
            elif isinstance(op, ast.In) and isinstance(right, ast.Tuple):
                names |= {e.value for e in right.elts if isinstance(e, ast.Constant)}
            elif isinstance(op, ast.In) and isinstance(right, ast.Name) and right.id != "RULED_PROGRAMS":
                sets.add(right.id)
    assert len(names) > 25, names  # the chain was read
    assert names - sc.RULED_PROGRAMS == set()
    for s in sets:
        assert set(getattr(sc, s)) <= sc.RULED_PROGRAMS, s
