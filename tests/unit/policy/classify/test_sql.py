"""agp/policy/classify/sql.py: every SQL statement, by kind, with risk flags."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agp.policy.classify import Statement, classify_sql


def kinds(sql: str, dialect: str | None = None) -> list[str | None]:
    return [s.sql_kind for s in classify_sql(sql, dialect=dialect)]


@pytest.mark.parametrize("sql,kind", [
    ("select * from t", "select"), ("SELECT 1 UNION SELECT 2", "select"), ("values (1)", "select"),
    ("insert into t values (1)", "insert"), ("insert into t select * from u", "insert"),
    ("update t set a = 1 where id = 2", "update"), ("delete from t where id = 1", "delete"),
    ("merge into t using s on t.id = s.id when matched then delete", "merge"),
    ("create table t (a int)", "ddl"), ("drop table t", "ddl"), ("alter table t add b int", "ddl"),
    ("grant select on t to u", "grant"), ("revoke all on t from u", "grant"),
    ("begin", "transaction"), ("commit", "transaction"), ("rollback", "transaction"),
    ("truncate table t", "delete"),
])
def test_statement_kinds(sql, kind):
    st_ = classify_sql(sql)
    assert [s.sql_kind for s in st_] == [kind]
    assert st_[0].kind == "sql"


def test_every_statement_in_a_string():
    assert kinds("select 1; delete from t where a = 1; drop table x") == ["select", "delete", "ddl"]


@pytest.mark.parametrize("sql", ["delete from t", "update t set a = 1", "delete from t where 1 = 1",
                                 "update t set a = 1 where true", "truncate t"])
def test_no_where_is_flagged(sql):
    assert "no_where" in classify_sql(sql)[0].flags


def test_where_with_a_column_is_not_flagged():
    assert classify_sql("delete from t where id = 3")[0].flags == ()


def test_data_modifying_cte_takes_the_write_kind():
    s = classify_sql("with x as (delete from t returning *) select * from x")[0]
    assert s.sql_kind == "delete" and "nested_dml" in s.flags and "no_where" in s.flags


def test_select_into_creates_a_table():
    s = classify_sql("select * into newt from t", dialect="postgres")[0]
    assert s.sql_kind == "ddl" and "select_into" in s.flags


@pytest.mark.parametrize("sql", ["select pg_read_file('/etc/passwd')", "select lo_export(1, '/tmp/x')",
                                 "select * from dblink('host=x', 'select 1') as t(a int)",
                                 "select load_extension('/tmp/x.so')", "exec xp_cmdshell 'dir'"])
def test_side_effect_functions_are_unknown(sql):
    s = classify_sql(sql)[0]
    assert s.kind == "unknown" and s.sql_kind == "unknown"


@pytest.mark.parametrize("sql", ["selec x from", "drop", "copy t to '/tmp/x'", "explain analyze delete from t",
                                 "set role admin", "pragma writable_schema = 1", "vacuum", "call p()",
                                 "\\! rm -rf /", "select * from t into outfile '/tmp/x'", "", "   ",
                                 "savepoint a", "lock table t"])
def test_unparseable_or_opaque_is_unknown(sql):
    st_ = classify_sql(sql)
    assert st_ and all(s.kind == "unknown" and s.sql_kind == "unknown" for s in st_), st_


def test_via_is_kept():
    assert classify_sql("select 1", via=("psql",))[0].via == ("psql",)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_never_raises(text):
    st_ = classify_sql(text)
    assert st_ and all(isinstance(s, Statement) for s in st_)
    assert all(s.kind in ("sql", "unknown") for s in st_)
