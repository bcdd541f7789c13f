"""headwater.names: every user-given or data-given name is checked in one place (pure functions)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater import names
from headwater.errors import ConfigError, StateError

#: names that must never reach a path or a SQL statement as they are
HOSTILE = [
    "",
    ".",
    "..",
    "../escaped",
    "a/../../b",
    "/abs/path",
    "C:\\windows",
    "a\\b",
    "x'; CREATE TABLE main.pwned AS SELECT 42 AS n; --",
    'quo"te',
    "nul\x00byte",
    "new\nline",
    "tab\tbed",
    "\u202eevil",  # a right-to-left override
    "é" * 150,  # 300 bytes of UTF-8
]


def _safe_component(name: str) -> None:
    """What any name that passed a check may be used as: one path component, no control characters."""
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs") for c in name)
    assert len(name.encode("utf-8")) <= names.MAX_NAME_BYTES


@pytest.mark.parametrize("bad", [*HOSTILE, "-dash", ".hidden", "spa ce", "é", "a@b", 7, None])
def test_pipeline_names_that_name_no_folder_are_refused(bad: object) -> None:
    with pytest.raises(ConfigError) as err:
        names.pipeline_name(bad)
    assert err.value.hint and "letters" in err.value.hint


@pytest.mark.parametrize("good", ["github", "GitHub_2", "a.b-c", "_x", "0day", "x" * 200])
def test_pipeline_names_that_are_kept(good: str) -> None:
    assert names.pipeline_name(good) == good


@pytest.mark.parametrize(
    "bad", [b for b in HOSTILE if b not in ("x'; CREATE TABLE main.pwned AS SELECT 42 AS n; --", 'quo"te')]
)
def test_source_names_that_are_paths_or_controls_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="source"):
        names.source_name(bad)


def test_source_names_keep_what_is_harmless_and_are_nfc() -> None:
    assert names.source_name("Größe der Daten") == "Größe der Daten"
    assert names.source_name("o'brien") == "o'brien"  # only ever a parameter or a file name: never SQL text
    assert names.source_name("cafe\u0301") == names.source_name("café") == "café"


@pytest.mark.parametrize("bad", [*HOSTILE, "a.b", "spa ce", "semi;colon", "Raw?"])
def test_dataset_names_are_one_plain_word(bad: str) -> None:
    with pytest.raises(ConfigError, match="dataset"):
        names.dataset_name(bad)


def test_dataset_names_follow_the_destination_identifier_limit() -> None:
    assert names.dataset_name("x" * 63, max_bytes=63) == "x" * 63
    with pytest.raises(ConfigError, match="longer than 63 bytes"):
        names.dataset_name("x" * 64, max_bytes=63)
    assert names.dataset_name("données") == "données"
    assert names.dataset_name("donne\u0301es") == "données"  # NFC: one dataset, however it was typed


def test_default_dataset_never_takes_the_catalog_name() -> None:
    assert names.default_dataset("crm") == "crm_dataset"
    assert names.default_dataset("crm", reserved=["CRM_dataset"]) == "crm_dataset_2"
    assert names.default_dataset("crm", reserved=["crm_dataset", "crm_dataset_2"]) == "crm_dataset_3"
    assert names.default_dataset("My.Pipe-line") == "my_pipe_line_dataset"


@pytest.mark.parametrize("reserved", ["_hw_loads", "_hw_state", "_HW_Schemas", "__hw__x", "_hw_quarantine"])
def test_declared_table_names_with_the_reserved_prefix_are_refused(reserved: str) -> None:
    with pytest.raises(ConfigError, match="reserved") as err:
        names.table_name(reserved, resource="r")
    assert err.value.where == {"resource": "r"}
    assert err.value.hint and "table_name=" in err.value.hint


def test_declared_table_names_over_the_limit_are_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="longer than 200 bytes") as err:
        names.table_name("é" * 150)
    assert "check free disk space" not in str(err.value)


def test_declared_table_names_follow_the_naming_convention() -> None:
    assert names.table_name("My Events") == "my_events"
    assert names.table_name("../../etc/passwd") == "_etc_passwd"  # never a path: '/' and '.' become '_'


def test_table_names_from_data_are_renamed_not_refused() -> None:
    assert names.data_table_name("_hw_loads") == "hw_loads"
    assert names.data_table_name("_HW_state") == "hw_state"
    long_a, long_b = "é" * 150, "é" * 149 + "e"
    short_a = names.data_table_name(long_a)
    assert short_a == names.data_table_name(long_a)  # deterministic: the same table every run
    assert short_a != names.data_table_name(long_b)
    assert len(short_a.encode()) <= names.MAX_NAME_BYTES


def test_child_table_names_are_capped_and_distinct() -> None:
    parent = "p" * 190
    first = names.child_table_name(parent, ("items",), taken={parent})
    assert len(first.encode()) <= names.MAX_NAME_BYTES
    assert first == names.child_table_name(parent, ("items",), taken={parent})
    other = names.child_table_name(parent, ("other",), taken={parent, first})
    assert other != first and len(other.encode()) <= names.MAX_NAME_BYTES
    again = names.child_table_name(parent, ("items",), taken={parent, first})
    assert again not in {parent, first} and len(again.encode()) <= names.MAX_NAME_BYTES


@pytest.mark.parametrize(
    "bad",
    [
        "../{table}/{load_id}.{ext}",
        "{table}/../../{load_id}.{ext}",
        "/abs/{table}/{load_id}",
        "C:/x/{table}/{load_id}",
        "s3://bucket/{table}/{load_id}",
        "{table}\\{load_id}",
        "{table}//{load_id}",
        "./{table}/{load_id}",
        "{table}/{load_id}\x00.{ext}",
        "{table}/{load_id}\n.{ext}",
    ],
)
def test_layouts_that_leave_the_dataset_folder_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="layout"):
        names.layout(bad)


def test_sql_quoting_doubles_embedded_quotes() -> None:
    assert names.quote_identifier('a"b') == '"a""b"'
    assert names.quote_literal("o'brien") == "'o''brien'"
    assert names.quote_literal('"o\'brien"."x"') == "'\"o''brien\".\"x\"'"
    with pytest.raises(ConfigError):
        names.quote_literal("a\x00b")


def test_inside_refuses_paths_that_leave_the_root(tmp_path: Path) -> None:
    assert names.inside(tmp_path, "a", "b") == (tmp_path / "a" / "b").resolve()
    for parts in (("..",), ("a", "..", ".."), ("/etc",), (".",)):
        if parts == (".",):
            assert names.inside(tmp_path, *parts) == tmp_path.resolve()
            continue
        with pytest.raises(StateError, match="outside"):
            names.inside(tmp_path, *parts)


# -- the class, by property: whatever the text, a name that passes is safe to use -------------------

_ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(HOSTILE)


@settings(max_examples=300, derandomize=True)
@given(_ANY_TEXT)
def test_any_text_either_is_refused_or_is_a_safe_name(text: str) -> None:
    for check in (names.pipeline_name, names.source_name, names.dataset_name):
        try:
            name = check(text)
        except ConfigError:
            continue
        _safe_component(name)
        if check is not names.source_name:
            assert "." not in name or check is names.pipeline_name
            assert not any(c in name for c in "'\"; ")


@settings(max_examples=300, derandomize=True)
@given(_ANY_TEXT.filter(bool))
def test_any_text_from_data_becomes_a_safe_table_name(text: str) -> None:
    name = names.data_table_name(text)
    _safe_component(name)
    assert not name.startswith("_hw_")
    assert names.data_table_name(text) == name
    child = names.child_table_name(name, (text, text), taken={name})
    _safe_component(child)
    assert not child.startswith("_hw_")


# -- misspelled Python arguments: a "did you mean", not a bare TypeError -------------------------------


def test_misspelled_hint_arguments_say_did_you_mean() -> None:
    import headwater as hw

    with pytest.raises(ConfigError, match="write_dispostion") as err:
        hw.resource([{"a": 1}], name="r", write_dispostion="merge")  # type: ignore[call-overload]
    assert err.value.hint and "did you mean 'write_disposition'" in err.value.hint

    with pytest.raises(ConfigError) as err:

        @hw.resource(primary_kye="id")  # type: ignore[call-overload]
        def rows() -> object:
            yield {"id": 1}

    assert err.value.hint and "did you mean 'primary_key'" in err.value.hint

    with pytest.raises(ConfigError) as err:
        hw.transformer(data_fro=None)  # type: ignore[call-overload]
    assert err.value.hint and "did you mean 'data_from'" in err.value.hint

    with pytest.raises(ConfigError) as err:
        hw.source(max_nestin=2)  # type: ignore[call-overload]
    assert err.value.hint and "did you mean 'max_nesting'" in err.value.hint

    with pytest.raises(ConfigError) as err:
        hw.resource([{"a": 1}], name="r").apply_hints(tabel_name="t")  # type: ignore[call-arg]
    assert err.value.hint and "did you mean 'table_name'" in err.value.hint

    with pytest.raises(ConfigError) as err:
        hw.pipeline("p", destinaton="duckdb")  # type: ignore[call-arg]
    assert err.value.hint and "did you mean 'destination'" in err.value.hint


def test_misspelled_run_arguments_say_did_you_mean(tmp_path: Path) -> None:
    import headwater as hw

    p = hw.pipeline("typo", destination=f"duckdb:///{tmp_path}/t.duckdb", pipelines_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError) as err:
        p.run([{"id": 1}], table_name="t", primary_kye="id")  # type: ignore[call-arg]
    assert "pipeline.run() got an unknown argument 'primary_kye'" in str(err.value)
    assert err.value.hint and "did you mean 'primary_key'" in err.value.hint
    with pytest.raises(ConfigError) as err:
        p.extract([{"id": 1}], tabel_name="t")  # type: ignore[call-arg]
    assert err.value.hint and "did you mean 'table_name'" in err.value.hint
    assert not (tmp_path / "t.duckdb").exists()  # refused before anything was opened


@pytest.mark.parametrize("raw", ["nul\x00byte", "new\nline", "\u202eevil"])
def test_declared_table_names_with_control_characters_are_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="control character"):
        names.table_name(raw)


def test_schemas_differing_only_in_case_are_refused_in_one_working_folder(tmp_path: Path) -> None:
    from headwater.pipelines.workdir import WorkDir
    from headwater.schema.model import Schema

    workdir = WorkDir(tmp_path / "p")
    workdir.write_schema(Schema("crm"))
    workdir.write_schema(Schema("crm"))  # the same one again is fine
    with pytest.raises(ConfigError, match="differs only in case"):
        workdir.write_schema(Schema("CRM"))
    with pytest.raises(ConfigError, match="source"):
        workdir.read_schema("../p/schemas/crm")  # never a path
    assert workdir.schema_names() == ["crm"]
