"""docs/gateway.md's settings table is the one ``settings_reference()`` gives: no drift."""

from __future__ import annotations

from pathlib import Path

from weixin_gateway.gateway.settings import settings_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"
START = "<!-- settings-table: generated from weixin_gateway.gateway.settings.settings_reference -->"
END = "<!-- /settings-table -->"


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for doc in settings_reference():
        legacy = ", ".join(f"`{name}`" for name in doc.legacy)
        name = f"`{doc.env}`" + (f" (legacy: {legacy})" if legacy else "")
        default = f"`{doc.default}`" if doc.default else "unset"
        rows.append(f"| {name} | {default} | {doc.description} |")
    return "\n".join(rows)


def test_docs_table_matches_the_settings() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert documented == settings_table(), (
        "regenerate the table: python -m tests.unit.test_settings_docs"
    )


if __name__ == "__main__":
    print(settings_table())
