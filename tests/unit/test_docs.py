"""The docs under docs/ against the code they describe.

- docs/reference-points.md: one table row per `magi.bus.catalog.CATALOG` entry (type, kind,
  exchange, producer, consumers, payload, reply), and one field table per payload model;
- docs/configuration.md: one row per `magi.config.MagiSettings` field (variable, default), and
  every flag of `magi up` / `magi serve`;
- relative links between the docs resolve.

The checkers are plain functions returning a list of problems, so the tests can also show that
they catch an undocumented message, setting or payload field.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from magi.bus.catalog import CATALOG, MessageSpec, Payload, VnfId
from magi.bus.envelope import ReferencePoint
from magi.config import MagiSettings

DOCS = Path(__file__).resolve().parents[2] / "docs"
CATALOG_HEADER = ["type", "kind", "exchange", "producer", "consumers", "payload", "reply"]
SETTINGS_HEADER = ["setting", "variable", "default", "description"]
PAYLOAD_HEADER = ["field", "type", "default"]
NONE_CELL = "—"  # an empty catalog value (the reply of a fact)


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- markdown tables


def cells(line: str) -> list[str]:
    """The cells of one table row: split on unescaped pipes, `\\|` unescaped, code ticks dropped."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    out = []
    for raw in re.split(r"(?<!\\)\|", body):
        cell = raw.strip().replace("\\|", "|")
        if len(cell) >= 2 and cell.startswith("`") and cell.endswith("`"):
            cell = cell[1:-1]
        out.append(cell.strip())
    return out


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every pipe table of a markdown text: (header cells, body rows). Fenced code is skipped."""
    found: list[tuple[list[str], list[list[str]]]] = []
    block: list[str] = []
    fenced = False
    for line in text.splitlines() + [""]:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.lstrip().startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2 and re.fullmatch(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?", block[1].strip()):
            found.append((cells(block[0]), [cells(b) for b in block[2:]]))
        block = []
    return found


def table(text: str, header: list[str]) -> list[dict[str, str]]:
    """The body of the one table with exactly this header, as dicts."""
    matching = [rows for head, rows in tables(text) if head == header]
    assert len(matching) == 1, f"expected exactly one table with header {header}, found {len(matching)}"
    return [dict(zip(header, row)) for row in matching[0]]


def section(text: str, heading: str) -> str | None:
    """The text under a markdown heading line, up to the next heading of any level."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == heading:
            body = []
            for nxt in lines[i + 1:]:
                if nxt.startswith("#"):
                    break
                body.append(nxt)
            return "\n".join(body)
    return None


# ---------------------------------------------------------------- the message catalog


def catalog_row(spec: MessageSpec) -> dict[str, str]:
    """How the docs render one catalog entry (after `cells` has dropped the code ticks)."""
    return {"type": spec.type, "kind": spec.kind, "exchange": spec.exchange.value, "producer": spec.producer,
            "consumers": ", ".join(spec.consumers), "payload": spec.payload.__name__, "reply": spec.reply or NONE_CELL}


def catalog_problems(rows: list[dict[str, str]], catalog: dict[str, MessageSpec]) -> list[str]:
    problems = []
    by_type: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_type.setdefault(row["type"], []).append(row)
    for type_, spec in catalog.items():
        documented = by_type.get(type_, [])
        if not documented:
            problems.append(f"{type_}: no row in docs/reference-points.md")
            continue
        if len(documented) > 1:
            problems.append(f"{type_}: {len(documented)} rows, expected one")
        want = catalog_row(spec)
        for col in CATALOG_HEADER[1:]:
            have = documented[0][col]
            if col == "consumers":
                have = ", ".join(c.strip() for c in have.split(","))
            if have != want[col]:
                problems.append(f"{type_}: {col} is {have!r} in the docs, {want[col]!r} in the catalog")
    for type_ in by_type:
        if type_ not in catalog:
            problems.append(f"{type_}: documented but not in the catalog")
    return problems


def type_name(annotation: Any) -> str:
    return annotation.__name__ if type(annotation) is type else repr(annotation).replace("typing.", "")


def field_default(field: FieldInfo) -> str:
    return "required" if field.is_required() else repr(field.default)


def payload_models(catalog: dict[str, MessageSpec]) -> list[type[Payload]]:
    models: list[type[Payload]] = []
    for spec in catalog.values():
        if spec.payload not in models:
            models.append(spec.payload)
    return models


def payload_problems(text: str, models: list[type[BaseModel]]) -> list[str]:
    """Each model has a `### `Name`` section whose field table lists exactly its declared fields."""
    problems = []
    for model in models:
        body = section(text, f"### `{model.__name__}`")
        if body is None:
            problems.append(f"{model.__name__}: no section in docs/reference-points.md")
            continue
        found = [rows for head, rows in tables(body) if head == PAYLOAD_HEADER]
        rows = {r[0]: r for r in found[0]} if found else {}
        for name, field in model.model_fields.items():
            row = rows.pop(name, None)
            if row is None:
                problems.append(f"{model.__name__}.{name}: not documented")
            elif row[1:] != [type_name(field.annotation), field_default(field)]:
                problems.append(f"{model.__name__}.{name}: documented as {row[1:]}, "
                                f"declared as {[type_name(field.annotation), field_default(field)]}")
        problems.extend(f"{model.__name__}.{name}: documented but not a field" for name in rows)
    return problems


def test_reference_points_table_matches_catalog():
    assert catalog_problems(table(read("reference-points.md"), CATALOG_HEADER), CATALOG) == []


def test_payload_fields_match_models():
    assert payload_problems(read("reference-points.md"), payload_models(CATALOG)) == []


def test_catalog_checker_reports_an_undocumented_message():
    rows = table(read("reference-points.md"), CATALOG_HEADER)
    fake = MessageSpec("vnf.frobnicate", "request", ReferencePoint.OR_VNFM, "nfvo", ("vnfm",), VnfId, "{}", "a new message")
    problems = catalog_problems(rows, {**CATALOG, fake.type: fake})
    assert problems == ["vnf.frobnicate: no row in docs/reference-points.md"]


def test_catalog_checker_reports_extra_duplicate_and_wrong_rows():
    rows = table(read("reference-points.md"), CATALOG_HEADER)
    first = dict(rows[0])
    changed = dict(rows[1], consumers="vnfm, monitoring", exchange="or-vi")
    ghost = dict(rows[2], type="ghost.message")
    problems = catalog_problems([first, changed, ghost, *rows[2:], first], CATALOG)
    assert f"{first['type']}: 2 rows, expected one" in problems
    assert any(p.startswith(f"{changed['type']}: consumers is") for p in problems)
    assert any(p.startswith(f"{changed['type']}: exchange is 'or-vi'") for p in problems)
    assert "ghost.message: documented but not in the catalog" in problems


def test_payload_checker_reports_an_undocumented_field():
    class VnfIdV2(VnfId):
        reason: str | None = None

    VnfIdV2.__name__ = "VnfId"  # the documented section, with one more field in the code
    assert payload_problems(read("reference-points.md"), [VnfIdV2]) == ["VnfId.reason: not documented"]


# ---------------------------------------------------------------- settings


def render_default(value: Any) -> str:
    """How docs/configuration.md writes a default: unset, true/false, "" or the plain value."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return '""'
    return str(value)


def variable(name: str) -> str:
    return f"{MagiSettings.model_config['env_prefix']}{name.upper()}"


def settings_problems(rows: list[dict[str, str]], fields: dict[str, FieldInfo]) -> list[str]:
    problems = []
    by_name: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_name.setdefault(row["setting"], []).append(row)
    for name, field in fields.items():
        documented = by_name.get(name, [])
        if not documented:
            problems.append(f"{name}: no row in docs/configuration.md")
            continue
        if len(documented) > 1:
            problems.append(f"{name}: {len(documented)} rows, expected one")
        row = documented[0]
        if row["variable"] != variable(name):
            problems.append(f"{name}: variable is {row['variable']!r}, expected {variable(name)!r}")
        if row["default"] != render_default(field.default):
            problems.append(f"{name}: default is {row['default']!r}, expected {render_default(field.default)!r}")
        if not row["description"]:
            problems.append(f"{name}: no description")
    problems.extend(f"{name}: documented but not a MagiSettings field" for name in by_name if name not in fields)
    return problems


def test_configuration_table_matches_settings():
    assert settings_problems(table(read("configuration.md"), SETTINGS_HEADER), MagiSettings.model_fields) == []


def test_settings_checker_reports_an_undocumented_setting_and_a_wrong_default():
    class Extended(MagiSettings):
        frobnicate_seconds: float = 2.5

    rows = table(read("configuration.md"), SETTINGS_HEADER)
    assert settings_problems(rows, Extended.model_fields) == ["frobnicate_seconds: no row in docs/configuration.md"]
    wrong = [dict(r, default="99") if r["setting"] == "prefetch" else r for r in rows]
    assert settings_problems(wrong, MagiSettings.model_fields) == ["prefetch: default is '99', expected '16'"]


def test_documented_variables_are_the_ones_pydantic_reads(monkeypatch: pytest.MonkeyPatch):
    rows = {r["setting"]: r for r in table(read("configuration.md"), SETTINGS_HEADER)}
    monkeypatch.setenv(rows["prefetch"]["variable"], "3")
    monkeypatch.setenv(rows["strict_version"]["variable"], "true")
    s = MagiSettings()
    assert (s.prefetch, s.strict_version) == (3, True)


def test_other_variables_are_documented():
    rows = table(read("configuration.md"), ["variable", "used by", "default", "description"])
    assert {r["variable"] for r in rows} >= {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "CI",
                                             "MAGI_ETSI_OPENAPI_DIR", "MAGI_SAMPLES_DIR"}


@pytest.mark.parametrize("command", ["up", "serve"])
def test_cli_flags_are_documented(command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    from magi.cli import main

    monkeypatch.setenv("COLUMNS", "300")  # no wrapped help lines
    with pytest.raises(SystemExit):
        main([command, "--help"])
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", capsys.readouterr().out)) - {"--help"}
    assert flags, "argparse help lists no flags"
    body = section(read("configuration.md"), f"### `magi {command}`")
    assert body is not None, f"docs/configuration.md has no '### `magi {command}`' section"
    assert sorted(f for f in flags if f"`{f}" not in body) == []


# ---------------------------------------------------------------- the pages themselves


def test_architecture_has_one_sequence_diagram():
    text = read("architecture.md")
    assert text.count("```mermaid") >= 1
    assert text.count("sequenceDiagram") == 1


def test_relative_links_resolve():
    for page in sorted(DOCS.glob("*.md")):
        for target in re.findall(r"\]\((?!https?://|#|mailto:)([^)#\s]+)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_etsi_errata_page_lists_every_schema_correction():
    from tests.etsi_schema import MAGI_CORRECTIONS
    page = read("etsi-errata.md")
    missing = [fix.pointer for fix in MAGI_CORRECTIONS if f"`{fix.pointer}`" not in page]
    assert not missing, f"docs/etsi-errata.md lacks {missing}"
