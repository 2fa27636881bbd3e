"""The rehearsal's reading of SQL: statements cut where psql would cut them, transaction control
and statements that cannot run in a transaction told apart; schema dumps compared by what they
define, not by the order of a table's columns."""

from __future__ import annotations

from checks.rehearsal import schema, sqltext


def texts(sql: str) -> list[tuple[str, int]]:
    return [(s.sql, s.line) for s in sqltext.split(sql)]


def test_statements_are_cut_at_semicolons_with_the_line_each_starts_on():
    assert texts("CREATE TABLE a (id int);\n\nINSERT INTO a VALUES (1);\n") == [
        ("CREATE TABLE a (id int)", 1),
        ("INSERT INTO a VALUES (1)", 3),
    ]


def test_semicolons_inside_literals_quoted_names_and_comments_do_not_cut():
    sql = (
        "INSERT INTO t VALUES ('a;b', E'it\\'s;', 'o''k;');\n"
        'ALTER TABLE "odd;name" ADD COLUMN x int; -- trailing; comment\n'
        "/* a; /* nested; */ comment */ SELECT 1;\n"
    )
    assert [s for s, _ in texts(sql)] == [
        "INSERT INTO t VALUES ('a;b', E'it\\'s;', 'o''k;')",
        'ALTER TABLE "odd;name" ADD COLUMN x int',
        "SELECT 1",
    ]


def test_a_dollar_quoted_function_body_is_one_statement():
    sql = (
        "CREATE FUNCTION f() RETURNS int AS $body$\nBEGIN\n  RETURN 1;\nEND;\n$body$ LANGUAGE plpgsql;\n"
        "DO $$ BEGIN PERFORM 1; END $$;\n"
        "SELECT $1;\n"
    )
    assert [line for _, line in texts(sql)] == [1, 6, 7]
    assert texts(sql)[0][0].endswith("$body$ LANGUAGE plpgsql")


def test_comments_before_a_statement_are_not_part_of_it():
    statements = sqltext.split("SELECT 1;\n-- why\n/* more */\nSELECT 2;\n-- only a comment\n")
    assert [(s.sql, s.line) for s in statements] == [("SELECT 1", 1), ("SELECT 2", 4)]


def test_bare_transaction_control_is_recognised_and_real_statements_are_not():
    control = sqltext.split("BEGIN;\nCOMMIT;\nstart  transaction;\nEND;\nBEGIN ATOMIC SELECT 1;")
    assert [s.is_transaction_control for s in control] == [True, True, True, True, False]


def test_statements_that_cannot_run_in_a_transaction_are_recognised():
    statements = sqltext.split(
        "CREATE UNIQUE INDEX CONCURRENTLY i ON t (a);\n"
        "/* note */ DROP INDEX CONCURRENTLY i;\n"
        "VACUUM t;\n"
        "CREATE INDEX i ON t (a);\n"
        "SELECT 'create index concurrently';\n"
    )
    assert [s.needs_autocommit for s in statements] == [True, True, True, False, False]


DUMP = """--
-- PostgreSQL database dump
--
\\restrict AbC123
SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE TABLE public.customers (
    id integer NOT NULL,
    name text NOT NULL{extra}
);

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);
\\unrestrict AbC123
"""


def test_a_column_added_back_at_the_end_of_its_table_is_no_difference():
    before = schema.normalise(DUMP.format(extra=",\n    points integer"))
    after = schema.normalise(
        DUMP.format(extra="").replace(
            "    id integer NOT NULL,", "    id integer NOT NULL,\n    points integer,"
        )
    )

    assert schema.diff(before, after) == ""


def test_a_column_left_behind_is_a_difference_and_dump_noise_is_not():
    before = schema.normalise(DUMP.format(extra=""))
    after = schema.normalise(
        DUMP.format(extra=",\n    legacy_code text").replace("AbC123", "XyZ789")
    )

    diff = schema.diff(before, after)
    changed = [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == ["+    legacy_code text"]
