"""Front matter: the `---` YAML block at the top of a Markdown or text file.

Owns splitting it from the body and turning it into flat string metadata (keys in
snake_case, scalars exactly as written, lists joined with ", "). A block that is not valid
YAML is left in the text and reported, so a typo never drops a document.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_BLOCK = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*(?:\n|\Z)", re.DOTALL)


def split_front_matter(text: str) -> tuple[str, dict[str, str], str]:
    """(body, metadata, problem): the body without the block, its metadata, and '' or what was wrong."""
    match = _BLOCK.match(text)
    if not match:
        return text, {}, ""
    import yaml

    try:
        data = yaml.load(match.group(1), Loader=yaml.BaseLoader)  # scalars stay as written: version 1.10 is "1.10"
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        return text, {}, f"front matter is not valid YAML{line}; fix it to get its metadata (the text is indexed as it is)"
    if not isinstance(data, dict):
        return text, {}, "front matter is not a list of `key: value` lines; fix it to get its metadata"
    return text[match.end():], {_key(k): _value(v) for k, v in data.items() if v is not None}, ""


def _key(key: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(key).strip().lower()).strip("_")


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple, set)):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return " ".join(str(value).split())
