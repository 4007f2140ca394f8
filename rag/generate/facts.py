"""What a sentence claims that its source must state too: numbers and amounts, names, negations.

Owns `facts(text)`: its numbers, normalised so that the same quantity written two ways is one value ('£1,200',
'£1200.00' and '1,200 pounds' are `£1200`; 'six' is `6`; '£1.2 million' is `£1200000`; clause numbers such as
`9.2.1` stay as written), with a bare copy of every amount so that a sentence may leave the currency out; its names
(runs of capitalised words such as 'Head of Compliance', 'Records Retention Schedule', the month of '1 March 2025',
and acronyms such as 'DPO'; 'and' parts two names, so each must be found; a sentence's first word counts only when
it is part of a longer name or an acronym), lower cased; and how many negations it makes ('not', 'never', "can't", ...; 'no more than' and 'not exceed' state a limit,
not a negation). `names_in(names, text)` gives the names a source lacks. Leaves deciding what is supported to
`rag.generate.verify`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty".split())}
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100}
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_CURRENCY = {"£": "£", "gbp": "£", "pounds": "£", "pound": "£", "$": "$", "us$": "$", "usd": "$", "dollars": "$",
             "€": "€", "eur": "€", "euros": "€", "euro": "€"}
_WORD_NUMBER = "|".join(sorted([*_UNITS, *_TENS], key=len, reverse=True))
_NUMBER = re.compile(
    r"(?P<cur>£|€|US\$|\$|\b(?:GBP|EUR|USD)\s?)?"
    rf"(?P<num>\d+(?:[.,]\d+)*|\b(?:{_WORD_NUMBER})(?:-(?:{_WORD_NUMBER}))?\b)"
    r"(?P<pct>\s?%|\s(?:per\s?cent|percent)\b)?"
    r"(?:\s?(?P<scale>k|m|mn|bn|thousand|million|billion)\b)?"
    r"(?:\s(?P<after>pounds?|euros?|dollars|GBP|EUR|USD)\b)?",
    re.IGNORECASE,
)
_NAME_WORD = r"(?:[A-Z][\w'’&-]*|\d+[A-Z]\w*)"
_NAME = re.compile(rf"(?<![\w'’&-]){_NAME_WORD}(?:\s+(?:(?:of|for|de|on|in|to)\s+(?:the\s+)?)?{_NAME_WORD})*")
_ACRONYM = re.compile(r"^[A-Z](?=[\w&-]*[A-Z0-9])[A-Z0-9&-]*[A-Z0-9]s?$")
_NEGATION = re.compile(r"\b(?:not|no|never|none|nor|neither|nobody|nothing|cannot|without)\b|n[’']t\b", re.IGNORECASE)
_LIMIT = re.compile(r"\b(?:no|not)\s+(?:more|less|later|earlier|fewer|longer|greater|higher|lower|sooner)\s+than\b"
                    r"|\b(?:not|never)\s+(?:to\s+)?exceed", re.IGNORECASE)
_STARTS = re.compile(r"(?:^|[.!?:;]\s+|[\"“‘(]\s*)$")  # what may come just before a sentence's (or a label's) first word
_CONNECTORS = {"of", "for", "the", "de", "on", "in", "to"}


@dataclass(frozen=True)
class Facts:
    """What must be found in the source: normalised numbers, lower-cased names, and the count of negations."""

    numbers: frozenset[str]
    names: tuple[str, ...]
    negations: int


def facts(text: str) -> Facts:
    return Facts(frozenset(numbers(text)), tuple(names(text)), negations(text))


def numbers(text: str) -> set[str]:
    """Normalised numbers of `text`: amounts with their currency ('£1200') and bare ('1200'), percentages ('50%')."""
    out: set[str] = set()
    for m in _NUMBER.finditer(text):
        value = _value(m.group("num"))
        if value is None:
            continue
        scale = _SCALE.get((m.group("scale") or "").lower(), 1.0)
        number = _plain(value * scale) if isinstance(value, float) else value
        currency = _CURRENCY.get((m.group("cur") or m.group("after") or "").strip().lower(), "")
        out.add(number + "%" if m.group("pct") else number)
        if currency:
            out.add(currency + number)
    return out


def _value(raw: str) -> float | str | None:
    """A number's value; a dotted reference ('9.2.1') as written; None for a word that is no number."""
    low = raw.lower()
    if low[0].isalpha():
        parts = low.split("-")
        total = sum(_UNITS.get(p, _TENS.get(p, -1000)) for p in parts)
        return float(total) if total >= 0 else None
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw):
        return float(raw.replace(",", ""))
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        return float(raw)
    return raw.replace(",", ".")  # '9.2.1', '1,2': a reference, compared as written


def _plain(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.6g}"


def names(text: str) -> list[str]:
    """Capitalised names and acronyms, lower-cased, in order (see the module docstring for the first word)."""
    out = []
    for m in _NAME.finditer(text):
        words = m.group(0).split()
        if _STARTS.search(text[: m.start()]) and not _ACRONYM.match(words[0]):
            words = words[1:]  # a sentence's first word is capitalised anyway
        while words and words[0].lower() in _CONNECTORS:
            words = words[1:]
        while words and words[-1].lower() in _CONNECTORS:
            words = words[:-1]
        if words and not (len(words) == 1 and len(words[0]) == 1):
            out.append(_key(" ".join(words)))
    return out


def _key(name: str) -> str:
    return re.sub(r"[’']s\b", "", " ".join(name.lower().split()))


def names_in(wanted: tuple[str, ...], source: str) -> list[str]:
    """The names of `wanted` that `source` does not contain as whole words (case, spacing and a possessive 's ignored)."""
    haystack = f" {_words(source)} "
    return [name for name in wanted if _words(name) and f" {_words(name)} " not in haystack]


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w&'’]+", " ", _key(text)).split())


def negations(text: str) -> int:
    """How many negations `text` makes; a limit such as 'no more than' or 'must not exceed' is not one."""
    return len(_NEGATION.findall(_LIMIT.sub(" ", text)))
