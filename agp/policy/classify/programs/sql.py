"""SQL clients: where their SQL comes from (an option, a file, trailing operands, stdin); the SQL
itself is classified with agp.policy.classify.sql."""

from __future__ import annotations

from agp.policy.classify.programs._model import Program

__all__ = ("PROGRAMS",)


def _client(name: str, sql: tuple[str, ...] = (), files: tuple[str, ...] = ()) -> Program:
    return Program(name, role="sql_client", sql_options=sql, sql_file_options=files)


PROGRAMS = (
    _client("psql", ("-c", "--command"), ("-f", "--file")),
    _client("pgcli", ("-c",)),
    _client("mysql", ("-e", "--execute")),
    _client("mariadb", ("-e", "--execute")),
    _client("sqlite3", ("-cmd",), ("-init",)),
    _client("duckdb", ("-c", "-s", "-cmd"), ("-f",)),
    _client("clickhouse-client", ("-q", "--query")),
    _client("sqlcmd", ("-Q", "-q"), ("-i",)),
    _client("snowsql", ("-q", "--query"), ("-f", "--filename")),
    _client("trino", ("--execute",), ("-f", "--file")),
    _client("presto", ("--execute",)),
)
