"""The README's settings table, generated from the declarations in `mmservice.config`.

Why generated: a hand-kept table drifts from the code (it did: settings were read that it never
listed). `python -m mmservice settings-table` prints it; README.md holds it between the markers
below, and a test fails when the two differ.
"""
from __future__ import annotations

from typing import Any

from mmservice import config

START = "<!-- settings-table:start -->"
END = "<!-- settings-table:end -->"


def _default(value: Any) -> str:
    if value is None or value == "":
        return "*(empty)*"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


def _type(annotation: Any) -> str:
    names = {int: "integer", float: "number", bool: "boolean", str: "text"}
    if annotation in names:
        return names[annotation]
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    return names.get(args[0], "text") if len(args) == 1 else "text"


def markdown() -> str:
    """One row per setting, in declaration order."""
    rows = ["| variable | type | default | per tenant | meaning |", "|---|---|---|---|---|"]
    for key, field in config.FIELDS.items():
        names = ", ".join(f"`{n}`" for n in config.env_names(key))
        tenant = "yes" if key in config.TENANT_KEYS else ""
        doc = (field.description or "").replace("|", "\\|")
        rows.append(f"| {names} | {_type(field.annotation)} | {_default(field.default)} | "
                    f"{tenant} | {doc} |")
    return "\n".join(rows) + "\n"


def readme_block(text: str) -> str:
    """What README.md holds between the markers (without them)."""
    start = text.index(START) + len(START)
    return text[start:text.index(END, start)].strip("\n") + "\n"
