"""The values an obligation states: what two sentences about the same subject can disagree on.

Owns reading, from one sentence, its durations ('within 30 days', '72 hours'; working days kept apart), frequencies
('quarterly', 'every six months', 'twice a year': counts per year), money amounts ('£500'), percentages, counted
things ('12 characters', '6 digits'), the roles that approve something ('with the approval of their line manager'),
and its modality (`prohibit`: must not, not permitted; `permit`: may, allowed; `oblige`: must, required; none for a
sentence that both allows and forbids, or allows only some). Two
sentences disagree on a kind when both state it and their values share nothing, yet lie within an order of magnitude
(`differing`); a value of a row of a threshold table holds for its band only and counts for nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.ingest.text import is_table_row

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
          "eleven": 11, "twelve": 12, "fourteen": 14, "fifteen": 15, "twenty": 20, "thirty": 30, "sixty": 60, "ninety": 90}
# A number ('30', '2.5', '1,000') but never a piece of a dotted clause number ('Rule 6.8.9 days' states no duration)
_NUM = r"((?<![\d.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![.,]?\d)|" + "|".join(_WORDS) + r")"
_UNIT_DAYS = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1.0, "week": 7.0, "month": 30.0, "year": 365.0}
_DURATION = re.compile(_NUM + r"[\s-]+(working[\s-]+|business[\s-]+|calendar[\s-]+)?(minute|hour|day|week|month|year)s?\b", re.IGNORECASE)
_PER = re.compile(r"^\s*(?:per|a|each|every)\s+(week|month|year|day)\b", re.IGNORECASE)
_EVERY = re.compile(r"\bevery\s+(?:" + _NUM + r"\s+)?(minute|hour|day|week|month|year)s?\b", re.IGNORECASE)
_NAMED_FREQ = {"annually": 1.0, "yearly": 1.0, "once a year": 1.0, "each year": 1.0, "every year": 1.0, "twice a year": 2.0,
               "biannually": 2.0, "half-yearly": 2.0, "quarterly": 4.0, "monthly": 12.0, "every month": 12.0, "weekly": 52.0,
               "every week": 52.0, "daily": 365.0, "every day": 365.0}
_TIMES = re.compile(_NUM + r"\s+times\s+(?:a|per|each)\s+(week|month|year)\b", re.IGNORECASE)
_AMOUNT = re.compile(r"([£$€])\s?(\d[\d,]*(?:\.\d+)?)\s*(k|m|million|thousand)?\b", re.IGNORECASE)
_BAND = re.compile(r"(up to|more than|over|less than|under|above|below|exceeding|from|between|and|^)\s*$", re.IGNORECASE)
_BAND_AFTER = re.compile(r"^\s*(or less|or more|to\b|and\b|-|–)", re.IGNORECASE)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?(?:%|per\s?cent\b)", re.IGNORECASE)
_COUNTED = re.compile(r"\b(\d+)\s+([a-z]{3,}s)\b")
_NOT_COUNTED = {"minutes", "hours", "days", "weeks", "months", "years", "times", "per", "percent"}
_ROLE = re.compile(r"\b(?:(?:Chief|Group|Deputy) (?:[A-Z][a-z]+ ){0,3}(?:Officer|Director|Counsel)|Head of (?:[A-Z][a-z]+ ?){1,3}|"
                   r"(?:[A-Z][a-z]+ ){1,2}Director|[Ll]ine manager|Service Desk|Data Protection Officer|Executive Committee|"
                   r"(?:the )?Board|CISO|CFO|COO|CEO|DPO|[Ss]ite owner|[Ss]ponsoring manager|HR)\b")
_APPROVAL = re.compile(r"\bapprov|\bauthori[sz]|\bsign[- ]off|\bconsent", re.IGNORECASE)
_PROHIBIT = re.compile(r"\b(must not|shall not|may not|cannot|can't|must never|should not|not (?:be )?permitted|not allowed|"
                       r"prohibited|forbidden|banned|never (?:be )?(?:used|allowed)|are blocked|is blocked)\b", re.IGNORECASE)
_PERMIT = re.compile(r"\b(may|can|are permitted|is permitted|are allowed|is allowed)\b", re.IGNORECASE)
_RESTRICTED = re.compile(r"\bonly\b(?:\s+\S+){0,5}?\s+may\b|\bmay\s+only\b", re.IGNORECASE)
_EXCEPTED = re.compile(r"\b(unless|except|other than|without (?:the |their |a |prior |written |express )*(?:approval|consent|"
                       r"permission|authori[sz]ation))\b", re.IGNORECASE)
_OBLIGE = re.compile(r"\b(must|shall|are required|is required|have to|has to)\b", re.IGNORECASE)
KINDS = ("duration", "frequency", "amount", "percent", "count", "approver", "modality")


@dataclass(frozen=True)
class Values:
    """What one sentence states, by kind: a frozenset of normalised values each (empty: the kind is not stated)."""

    by_kind: dict[str, frozenset[str]]

    def __bool__(self) -> bool:
        return any(self.by_kind.values())

    def get(self, kind: str) -> frozenset[str]:
        return self.by_kind.get(kind, frozenset())


def _number(text: str) -> float:
    text = text.lower()
    return float(_WORDS[text]) if text in _WORDS else float(text.replace(",", ""))


def _duration(days: float, working: str) -> str:
    """One spelling per length of time: hours under a day ('1 hours', '30 minutes' is '0.5 hours'), else days."""
    if days < 1 and not working:
        return f"{_fmt(round(days * 24, 3))} hours"
    return f"{_fmt(round(days, 3))} {working}days"


def _per_year(value: float) -> str:
    """Times a year, whole when at least once a year ('every 90 days' and 'quarterly' are both 4)."""
    return _fmt(round(value) if value >= 1 else round(value, 2))


def _fmt(value: float) -> str:
    return f"{value:g}"


def extract_values(sentence: str, table_row: bool | None = None) -> Values:
    """The values `sentence` states, by kind; `table_row` says whether it is a row of a table (default: whether it
    looks like one; a row shown with its header labels does not)."""
    table_row = is_table_row(sentence) if table_row is None else table_row
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    lowered = sentence.lower()
    for name, per_year in _NAMED_FREQ.items():
        if re.search(r"\b" + re.escape(name) + r"\b", lowered):
            found["frequency"].add(_fmt(per_year))
    for match in _EVERY.finditer(sentence):
        count = _number(match.group(1)) if match.group(1) else 1.0
        found["frequency"].add(_per_year(365.0 / (count * _UNIT_DAYS[match.group(2).lower()])))
    for match in _TIMES.finditer(sentence):
        found["frequency"].add(_per_year(_number(match.group(1)) * 365.0 / _UNIT_DAYS[match.group(2).lower()]))
    for match in _DURATION.finditer(sentence):
        before = sentence[max(0, match.start() - 7) : match.start()].lower()
        per = _PER.match(sentence[match.end():])
        if per:  # '2 days per week': a frequency
            found["frequency"].add(_per_year(_number(match.group(1)) * 365.0 / _UNIT_DAYS[per.group(1).lower()]))
        if "every" in before or per:
            continue
        unit = match.group(3).lower()
        working = "working " if match.group(2) and match.group(2).strip().lower() in ("working", "business") else ""
        found["duration"].add(_duration(_number(match.group(1)) * _UNIT_DAYS[unit], working))
    for match in _AMOUNT.finditer(sentence):
        if _BAND.search(sentence[max(0, match.start() - 12) : match.start()]) or _BAND_AFTER.match(sentence[match.end():]):
            if table_row:  # a row of a threshold table ('Up to £1,000 | Head of Department | ...'): every
                return Values({})       # value in it holds for that band only, so it states no rule of its own
            continue  # 'more than £500': a range, not a rule's value
        scale = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6}.get((match.group(3) or "").lower(), 1.0)
        found["amount"].add(f"{match.group(1)}{_fmt(float(match.group(2).replace(',', '')) * scale)}")
    found["percent"] = {m.group(1) for m in _PERCENT.finditer(sentence)}
    found["count"] = {f"{m.group(1)} {m.group(2)}" for m in _COUNTED.finditer(sentence) if m.group(2) not in _NOT_COUNTED}
    if _APPROVAL.search(sentence):
        found["approver"] = {" ".join(m.group(0).lower().removeprefix("the ").split()) for m in _ROLE.finditer(sentence)}
    found["modality"] = {modality(sentence)} - {""}
    return Values({kind: frozenset(v) for kind, v in found.items() if v})


def modality(sentence: str) -> str:
    """`prohibit`, `permit`, `oblige`, or '' when the sentence states none or both allows and forbids ('may use social
    media but must not disclose ...'), allows only some ('Only the X team may', 'may only be given with ...'), or
    forbids with an exception ('must not promote a fund as green unless it holds the designation'): a conditional
    rule is not set against a permission of the case it excepts."""
    prohibits, permits = bool(_PROHIBIT.search(sentence)), bool(_PERMIT.search(_PROHIBIT.sub(" ", sentence)))
    if prohibits and permits or (permits and _RESTRICTED.search(sentence)) or (prohibits and _EXCEPTED.search(sentence)):
        return ""
    if prohibits:
        return "prohibit"
    if permits:
        return "permit"
    return "oblige" if _OBLIGE.search(sentence) else ""


def differing(a: Values, b: Values) -> list[str]:
    """The kinds both sentences state with values that share nothing ('45 days' against '90 days'); a modality differs
    only when one permits and the other prohibits; counted things only differ for the same noun."""
    kinds = []
    for kind in KINDS:
        x, y = a.get(kind), b.get(kind)
        if not x or not y or x & y:
            continue
        if kind == "modality" and x | y != {"permit", "prohibit"}:
            continue  # 'must do X' and 'must not do Y' are usually two rules; 'may' against 'must not' is the clash
        if kind in _MAGNITUDES and not _comparable(x, y):
            continue  # an order of magnitude apart: a deadline and a retention period, not two answers to one question
        if kind == "count" and not ({v.split(" ", 1)[1] for v in x} & {v.split(" ", 1)[1] for v in y}):
            continue
        kinds.append(kind)
    return kinds


_MAGNITUDES = ("duration", "frequency", "amount", "count")
MAX_RATIO = 12.0


def _magnitude(value: str) -> float | None:
    found = re.search(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", value)
    if not found:
        return None
    return float(found.group(0)) / (24.0 if value.endswith(" hours") else 1.0)


def _comparable(x: frozenset[str], y: frozenset[str]) -> bool:
    """Whether some value of `x` and some of `y` are within `MAX_RATIO` of each other."""
    a = [m for m in map(_magnitude, x) if m]
    b = [m for m in map(_magnitude, y) if m]
    return any(max(p, q) / min(p, q) <= MAX_RATIO for p in a for q in b)
