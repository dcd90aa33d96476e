"""What text Herald takes from a client, wherever it arrives (query, form, JSON). Pure.

No control characters (C0 and DEL) but tab and line breaks, and those only in multi-line text;
no lone surrogates (they cannot be stored or answered as UTF-8); JSON at most `MAX_JSON_DEPTH`
levels deep. Each problem is said in words a client can act on; callers name the field.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

MAX_JSON_DEPTH = 32

_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_FORBIDDEN_IN_ONE_LINE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def problem(value: str, *, one_line: bool) -> str | None:
    """Why `value` cannot be taken as it is, or None."""
    found = (_FORBIDDEN_IN_ONE_LINE if one_line else _FORBIDDEN).search(value)
    if found is None:
        return None
    char, where = found.group(), f"at character {found.start() + 1}"
    if "\ud800" <= char <= "\udfff":
        return f"Not valid Unicode: a lone surrogate U+{ord(char):04X} {where}."
    if char in "\t\n\r":
        return f"Must be one line: a tab or line break (U+{ord(char):04X}) {where}."
    return f"Control characters are not allowed: U+{ord(char):04X} {where}."


def name_problem(name: str, max_length: int) -> str | None:
    """Why `name` cannot name something made at the command line (a token, an operator): it
    "is empty", "starts or ends with a space", ...; or None."""
    if not name.strip():
        return "is empty"
    if name != name.strip():
        return "starts or ends with a space"
    if any(unicodedata.category(char).startswith("C") for char in name):
        return "contains a control character"
    if len(name) > max_length:
        return f"is longer than {max_length} characters"
    return None


def one_line(value: Any) -> Any:
    """`value` unchanged if it is one line of text (or a list of such, or not text); else ValueError."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and (why := problem(item, one_line=True)):
            raise ValueError(why)
    return value


def load_json(text: str) -> Any:
    """`json.loads`, refusing JSON nested more than MAX_JSON_DEPTH levels. Raises ValueError."""
    too_deep = f"nested more than {MAX_JSON_DEPTH} levels deep"
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError(too_deep) from None
    level = [data]
    for _ in range(MAX_JSON_DEPTH):
        level = [child for node in level if isinstance(node, (dict, list))
                 for child in (node.values() if isinstance(node, dict) else node)]
    if any(isinstance(node, (dict, list)) for node in level):
        raise ValueError(too_deep)
    return data
