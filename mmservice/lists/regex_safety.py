"""Which regular expressions a term list accepts: the shapes that backtrack catastrophically are
refused when the item is stored, and the literal every match needs is found, so the matcher can
skip a regex on a text without it.

Why inspect the parse tree and not only time the pattern: a timeout catches slowness after the
fact and on the inputs tried; nested repeats and backreferences are the known causes of
exponential backtracking, and refusing them up front gives the user a clear reason at PUT.
"""
from __future__ import annotations

import re
import re._parser as sre_parse  # the stdlib's own regex parser, to inspect a pattern's shape

MAX_REPEAT = 100  # {m,n} bounds, and what * and + may not sit inside


def parse(value: str):
    """The stdlib parser's tree of `value` (re.error if it is not a valid pattern)."""
    return sre_parse.parse(value)


def nested_repeat(tree, inside: bool = False) -> str | None:
    """Why a parsed pattern is unsafe, or None: a repeat inside a repeat, a backreference,
    or a repeat bound above MAX_REPEAT."""
    for op, av in tree:
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            return "backreferences are not allowed"
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = av
            if hi == sre_parse.MAXREPEAT and inside:
                return "a repeat inside a repeat can take exponential time"
            if hi != sre_parse.MAXREPEAT and hi > MAX_REPEAT:
                return f"repeat bounds above {MAX_REPEAT} are not allowed"
            if hi > 1:
                if inside:
                    return "a repeat inside a repeat can take exponential time"
                why = nested_repeat(sub, True)
            else:
                why = nested_repeat(sub, inside)
            if why:
                return why
        elif name == "SUBPATTERN":
            why = nested_repeat(av[-1], inside)
            if why:
                return why
        elif name == "BRANCH":
            for alt in av[1]:
                why = nested_repeat(alt, inside)
                if why:
                    return why
        elif name in ("ASSERT", "ASSERT_NOT"):
            why = nested_repeat(av[1], inside)
            if why:
                return why
    return None


def required_literal(value: str) -> str:
    """The longest run of plain characters every match of the pattern contains (case-folded),
    or "". A text without it cannot match, so the regex is not even run (most texts)."""
    best, run = "", ""
    try:
        tree = sre_parse.parse(value)
    except re.error:
        return ""
    for op, av in tree:
        if str(op) == "LITERAL":
            run += chr(av)
            continue
        if str(op) != "AT":  # \b, ^, $ take no characters: the run goes on across them
            best, run = max(best, run, key=len), ""
    return max(best, run, key=len).casefold()
