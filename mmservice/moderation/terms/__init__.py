"""Load the built-in term lists from the TOML files beside this module.

Why data files: the lists are edited by people who tune moderation, not by people who read the
engine, and tenant block/allow lists (written in the same pattern language) load the same way.
The files are read by path relative to this module, so a source checkout works without an
install step. `README.md` here is the maintainer's guide to the pattern language.
"""
from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class TermLists:
    """Everything the local text engine and the normalizer read, in evaluation order."""

    version: str
    assessed: tuple[str, ...]
    slots: dict[str, list[str]]  # slot name -> phrases ("{slot}" in a pattern)
    rules: list[dict[str, Any]]  # {"id", "scores", "patterns"}, in `rule_order`
    benign: list[str]  # phrases cut out before matching
    contexts: list[dict[str, Any]]  # {"id", "factor", "categories", "patterns", "needs_quotes"?}
    name_ambiguous: frozenset[str]  # words that are also names ("Dick Van Dyke")
    not_name_evidence: frozenset[str]  # capitalized words that prove no name


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: {e}") from None


def load(directory: Path = HERE) -> TermLists:
    """Read and check one directory of term files (`index.toml` names the others)."""
    index = _read(directory / "index.toml")
    slots: dict[str, list[str]] = {}
    rules: dict[str, dict[str, Any]] = {}
    benign: list[str] = []
    for name in index["files"]:
        data = _read(directory / name)
        for slot, phrases in data.get("slots", {}).items():
            if slot in slots:
                raise ValueError(f"{name}: slot {{{slot}}} is defined twice")
            slots[slot] = list(phrases)
        for rule in data.get("rules", []):
            if rule["id"] in rules:
                raise ValueError(f"{name}: rule {rule['id']} is defined twice")
            rules[rule["id"]] = {"id": rule["id"], "scores": dict(rule["scores"]),
                                 "patterns": list(rule["patterns"])}
        benign += data.get("phrases", [])
    order = list(index["rule_order"])
    if len(set(order)) != len(order) or set(order) != set(rules):
        missing, extra = set(rules) - set(order), set(order) - set(rules)
        raise ValueError(f"index.toml rule_order must name every rule once; not listed: "
                         f"{sorted(missing)}, unknown or repeated: {sorted(extra) or 'repeats'}")
    names = _read(directory / "names.toml")
    return TermLists(
        version=str(index["version"]), assessed=tuple(index["assessed"]), slots=slots,
        rules=[rules[rid] for rid in order], benign=benign,
        contexts=_read(directory / "context.toml")["contexts"],
        name_ambiguous=frozenset(names["ambiguous"]),
        not_name_evidence=frozenset(names["not_name_evidence"]))


@functools.lru_cache(maxsize=1)
def builtin() -> TermLists:
    """The lists shipped with the service, read once per process."""
    return load(HERE)
