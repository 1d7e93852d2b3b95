"""SQL classification with sqlglot: every statement in a string, by kind, with risk flags.

Kinds: select, insert, update, delete, merge, ddl, grant, transaction, unknown.
Flags:
- no_where: UPDATE/DELETE without a WHERE clause, or with one that references no column
  (`WHERE 1=1`, `WHERE true`); TRUNCATE is a delete with flags ('no_where', 'truncate').
- nested_dml: a data-modifying statement inside another (`WITH x AS (DELETE ... RETURNING *)
  SELECT ...`); the statement takes the kind of the strongest write inside it.
- side_effect_function: a call to a function known to read/write server files, run programs or
  open connections (pg_read_file, lo_export, dblink, xp_cmdshell, load_extension, ...); the
  statement is unknown.
Unknown SQL is a Statement with kind 'unknown' and sql_kind 'unknown'.
Unparseable text, statements sqlglot only keeps as an opaque Command (EXPLAIN [ANALYZE], SET,
SHOW, CALL, VACUUM, ...), COPY, PRAGMA, and any statement type not listed here are unknown.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from agp.policy.classify._statement import Statement

__all__ = ("SIDE_EFFECT_FUNCTIONS", "classify_sql")

SIDE_EFFECT_FUNCTIONS = frozenset(
    {
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_write_file",
        "lo_import",
        "lo_export",
        "lo_from_bytea",
        "lo_put",
        "dblink",
        "dblink_exec",
        "dblink_connect",
        "pg_execute_server_program",
        "pg_reload_conf",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "set_config",
        "query_to_xml",
        "query_to_json",
        "xpath",  # query_to_* run a query string
        "load_file",
        "sys_exec",
        "sys_eval",
        "xp_cmdshell",
        "xp_dirtree",
        "openrowset",
        "opendatasource",
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
        "utl_http",
        "utl_file",
        "dbms_xmlgen",
        "dbms_java",
    }
)

_DIALECTS = {
    "psql": "postgres",
    "postgres": "postgres",
    "pgcli": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite3": "sqlite",
    "sqlite": "sqlite",
    "duckdb": "duckdb",
    "clickhouse-client": "clickhouse",
    "sqlcmd": "tsql",
    "snowsql": "snowflake",
    "bq": "bigquery",
    "trino": "trino",
    "presto": "presto",
}


class _DropCommandFallbackWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # pragma: no cover - logging plumbing
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_DropCommandFallbackWarnings())

_WRITE_ORDER = (exp.Merge, exp.Delete, exp.Update, exp.Insert)
_KIND_OF = {exp.Merge: "merge", exp.Delete: "delete", exp.Update: "update", exp.Insert: "insert"}


def dialect_for(client: str) -> str | None:
    """The sqlglot dialect for a command-line client name ('psql' -> 'postgres'), or None."""
    return _DIALECTS.get(client)


def _unknown(text: str, reason: str, via: tuple[str, ...], flags: tuple[str, ...] = ()) -> Statement:
    # kind 'unknown' (not 'sql'): whatever only looks at kinds still refuses it
    return Statement(kind="unknown", sql_kind="unknown", text=text[:500], reason=reason, via=via, flags=flags)


def _where_flags(stmt: exp.Expression) -> tuple[str, ...]:
    where = stmt.args.get("where")
    if where is None:
        return ("no_where",)
    if where.find(exp.Column) is None:
        return ("no_where",)
    return ()


def _classify_one(stmt: exp.Expr, dialect: str | None, via: tuple[str, ...]) -> Statement:
    try:
        text = stmt.sql(dialect=dialect)
    except Exception:  # noqa: BLE001 - a generator bug must not make a statement disappear
        text = type(stmt).__name__
    text = text[:500]
    for fn in stmt.find_all(exp.Anonymous, exp.Func):
        name = (fn.name if isinstance(fn, exp.Anonymous) else fn.sql_name()).lower()
        if name in SIDE_EFFECT_FUNCTIONS:
            return _unknown(
                text, f"calls {name}(), which reaches files, programs or connections", via, ("side_effect_function",)
            )
    if isinstance(stmt, exp.Command):
        return _unknown(text, f"statement not understood by the parser: {stmt.name.upper()}", via)
    if isinstance(stmt, (exp.Copy,)):
        return _unknown(text, "COPY reads or writes server files or runs programs", via)
    if isinstance(stmt, exp.Pragma):
        return _unknown(text, "PRAGMA can change the database file's schema and settings", via)
    if isinstance(stmt, exp.TruncateTable):
        return Statement(kind="sql", sql_kind="delete", flags=("no_where", "truncate"), text=text, via=via)
    for cls in _WRITE_ORDER:
        if isinstance(stmt, cls):
            flags: tuple[str, ...] = ()
            if cls in (exp.Delete, exp.Update):
                flags += _where_flags(stmt)
            nested = [n for c in _WRITE_ORDER for n in stmt.find_all(c) if n is not stmt]
            if nested:
                flags += ("nested_dml",)
                for n in nested:
                    if isinstance(n, (exp.Delete, exp.Update)):
                        flags += tuple(f for f in _where_flags(n) if f not in flags)
            return Statement(kind="sql", sql_kind=_KIND_OF[cls], flags=flags, text=text, via=via)
    if isinstance(stmt, (exp.Create, exp.Drop, exp.Alter, exp.Comment)):
        return Statement(kind="sql", sql_kind="ddl", text=text, via=via)
    if isinstance(stmt, (exp.Grant, exp.Revoke)):
        return Statement(kind="sql", sql_kind="grant", text=text, via=via)
    if isinstance(stmt, (exp.Transaction, exp.Commit, exp.Rollback)):
        return Statement(kind="sql", sql_kind="transaction", text=text, via=via)
    if isinstance(stmt, (exp.Select, exp.SetOperation, exp.Values, exp.Describe)):
        for cls in _WRITE_ORDER:
            inner = next(iter(stmt.find_all(cls)), None)
            if inner is not None:
                flags = ("nested_dml",)
                if isinstance(inner, (exp.Delete, exp.Update)):
                    flags += _where_flags(inner)
                return Statement(kind="sql", sql_kind=_KIND_OF[cls], flags=flags, text=text, via=via)
        if stmt.args.get("into") is not None:  # SELECT ... INTO new_table creates a table
            return Statement(kind="sql", sql_kind="ddl", flags=("select_into",), text=text, via=via)
        return Statement(kind="sql", sql_kind="select", text=text, via=via)
    return _unknown(text, f"statement type {type(stmt).__name__} is not classified", via)


def classify_sql(text: str, *, dialect: str | None = None, via: tuple[str, ...] = ()) -> tuple[Statement, ...]:
    """Every statement in `text`, as `sql` statements. Never raises on bad input: a string that does
    not parse is one unknown statement (sql_kind 'unknown') for the whole text."""
    if not isinstance(text, str) or not text.strip():
        return (_unknown(str(text), "empty SQL", via),)
    try:
        parsed = sqlglot.parse(text, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    except (SqlglotError, ValueError, RecursionError, TypeError, KeyError, AttributeError) as exc:
        return (_unknown(text, f"SQL does not parse: {str(exc).splitlines()[0][:200]}", via),)
    out = tuple(_classify_one(s, dialect, via) for s in parsed if s is not None)
    if not out:
        return (_unknown(text, "no SQL statement found", via),)
    return out
