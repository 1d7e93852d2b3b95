"""The walker's fast constructors make the same frozen records as the dataclass constructors."""

from __future__ import annotations

import dataclasses

import pytest

from agp.policy.call import ClassifiedStatement, PathFact
from agp.policy.classify._statement import Statement


def test_statement_fast_is_the_constructor():
    args = ("exec", "ls", ("ls", "$X"), (True, False), (False, False), ("/w/a",), (True,), "/w", ("glob",), ("sudo",),
            "ls $X")
    fast = Statement.fast(*args)
    slow = Statement("exec", "ls", ("ls", "$X"), (True, False), (False, False), ("/w/a",), (True,), "/w", None, None,
                     None, ("glob",), ("sudo",), "ls $X", "")
    assert fast == slow and hash(fast) == hash(slow)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    # every field set, each from its own argument (all values distinct)
    fast = Statement.fast(*[(i,) for i in range(11)])  # type: ignore[arg-type]
    assert [getattr(fast, f.name) for f in dataclasses.fields(Statement)] == [
        (0,), (1,), (2,), (3,), (4,), (5,), (6,), (7,), None, None, None, (8,), (9,), (10,), ""]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.program = "rm"  # type: ignore[misc]


def test_classified_statement_fast_is_the_constructor():
    p = (PathFact("a", "/w/a", "inside"),)
    fast = ClassifiedStatement.fast("exec", "ls a", "ls", ("ls", "a"), (), p, None, None, (), ("x",), None, ("glob",))
    slow = ClassifiedStatement(kind="exec", text="ls a", program="ls", argv=("ls", "a"), paths=p, via=("x",),
                               facts=("glob",))
    assert fast == slow and hash(fast) == hash(slow) and fast.literal == (True, True)
    assert set(vars(fast)) == {f.name for f in dataclasses.fields(ClassifiedStatement)}
    with pytest.raises(ValueError, match="one flag per argv word"):
        ClassifiedStatement.fast("exec", "ls", "ls", ("ls", "a"), (True,), (), None, None, (), (), None, ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.kind = "read"  # type: ignore[misc]
