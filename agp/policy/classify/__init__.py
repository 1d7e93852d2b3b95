"""Classifiers: what a tool call actually does, as a tuple of Statements.

- classify_shell(command, cwd): every simple command a shell string runs (tree-sitter-bash).
- classify_sql(text, dialect=None): every SQL statement (sqlglot).
- normalize_path(p, cwd, workspace): resolve a path, say whether it is inside the workspace.
- url_host(url): the host a client would connect to, or None when ambiguous.
"""

from agp.policy.classify._statement import KINDS, SQL_KINDS, Statement
from agp.policy.classify.paths import ResolvedPath, is_inside, normalize_path
from agp.policy.classify.shell import classify_shell
from agp.policy.classify.sql import classify_sql
from agp.policy.classify.urls import url_host

__all__ = (
    "KINDS",
    "SQL_KINDS",
    "ResolvedPath",
    "Statement",
    "classify_shell",
    "classify_sql",
    "is_inside",
    "normalize_path",
    "url_host",
)
