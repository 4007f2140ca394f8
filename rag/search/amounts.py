"""Money amounts and the ranges a text states: '£1,200', 'more than £150 and up to £500', '£25,001 to £100,000'.

Owns reading amounts written with a currency sign or code before the number (£, $, US$, €, GBP, USD, EUR;
'£1.5m', '£2 million') or a currency word after it ('80 quid', '200 pounds', '50 euros', '20 bucks') and turning the words around them into an interval: a bare amount is itself; 'up to
(and including)', 'below', 'not more than' or 'or less' bound it from above; 'more than', 'exceeds', 'not
less than' or 'or more' from below; 'X to Y' and 'between X and Y' on both sides. The answerer uses it to prefer the row of an approval or limit table whose range holds the amount a
question names ('Who approves an expense claim of £1,200?'). Currencies are not converted: an interval is
only compared with amounts of the same currency. A question's thousands typed with no currency at all ('who signs off a 5k
sponsorship') are read in the build's currency (`question_intervals`, `build_currency`: the one nearly all the
documents' amounts are in). Leaves out dates, durations and percentages.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from rag.indexing.store import LoadedIndex

_CURRENCY = {"£": "GBP", "gbp": "GBP", "$": "USD", "us$": "USD", "usd": "USD", "€": "EUR", "eur": "EUR"}
_AMOUNT = re.compile(
    r"(?<![\w$£€])(us\$|£|\$|€|gbp\s?|usd\s?|eur\s?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:\s?(k|m|mn|bn|million|billion|thousand)\b)?",
    re.IGNORECASE,
)
# an amount with its currency written after it, as people type it ('80 quid', '2,000 euros', '50 bucks'): read as if
# the sign came first
_WORD_AFTER = re.compile(
    r"(?<![\w$£€.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\s?(?:k|m|mn|bn|million|billion|thousand))?\s?"
    r"(quid|pounds?(?: sterling)?|gbp|euros?|eur|dollars?|bucks|usd)\b", re.IGNORECASE)
_WORD_SIGN = {"quid": "£", "pound": "£", "gbp": "£", "euro": "€", "eur": "€", "dollar": "$", "buck": "$", "usd": "$"}
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_UPPER_BEFORE = re.compile(
    r"\b(up to(?: and including)?|less than or equal to|not more than|no more than|not exceeding|at most|maximum of|max\.?|"
    r"below|under|(?<!not )(?<!no )less than)\s*$", re.I)
_LOWER_BEFORE = re.compile(
    r"\b(not less than|no less than|more than|greater than|higher than|larger than|over|above|(?<!not )exceed(?:s|ing)?|"
    r"in excess of|at least|minimum of|from)\s*$", re.I)
_OPEN_WORDS = ("below", "under", "less than", "more than", "greater than", "higher than", "larger than", "over", "above",
               "exceed", "exceeds", "exceeding", "in excess of")
_UPPER_AFTER = re.compile(r"^\s*(or less|or under|or below|and below|and under|or lower)\b", re.I)
_LOWER_AFTER = re.compile(r"^\s*(or more|or over|or above|and above|and over|or higher|or greater|\+)", re.I)
_PAIR = re.compile(r"^\s*(to|-|–|—)\s*$", re.I)  # '£10 to £20'
_AND, _BETWEEN = re.compile(r"^\s*and\s*$", re.I), re.compile(r"\bbetween\s*$", re.I)  # 'and' pairs only after 'between'


@dataclass(frozen=True)
class Interval:
    """An interval of amounts in one currency; `low_open` / `high_open` exclude the bound itself."""

    currency: str
    low: float = 0.0
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def meets(self, other: "Interval") -> bool:
        """Whether two intervals of the same currency share an amount."""
        if self.currency != other.currency:
            return False
        low, high = max(self.low, other.low), min(self.high, other.high)
        if low < high:
            return True
        closed = not (self.low_open and self.low == low or other.low_open and other.low == low
                      or self.high_open and self.high == high or other.high_open and other.high == high)
        return low == high and closed


def _value(match: re.Match[str]) -> float:
    number = float(match.group(2).replace(",", "") + (match.group(3) or ""))
    return number * _SCALE.get((match.group(4) or "").lower(), 1.0)


def intervals(text: str) -> list[Interval]:
    """The amounts and ranges `text` states, in order; one interval per amount or per 'X to Y' pair."""
    text = _WORD_AFTER.sub(_signed, text)
    found = list(_AMOUNT.finditer(text))
    out: list[Interval] = []
    i = 0
    while i < len(found):
        m, nxt = found[i], found[i + 1] if i + 1 < len(found) else None
        if nxt and _is_pair(text, m, nxt):  # '£25,001 to £100,000', 'between £1 and £5'
            out.append(Interval(_CURRENCY[m.group(1).strip().lower()], _value(m), _value(nxt)))
            i += 2
        else:
            out.append(_bounded(text, m))
            i += 1
    return _joined(out)


_BARE = re.compile(  # a number with no unit after it ('like 300?', 'what about 5k'), not a year ('in 2021')
    r"(?<![\w$£€.,])(?!(?:19|20)\d\d\b)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\s?(?:k|m|million|thousand)\b)?(?!\s*[A-Za-z%£$€\d])")
_SIGN_OF = {"GBP": "£", "USD": "$", "EUR": "€"}


# thousands typed without a currency ('a 5k sponsorship', '5 grand'), not a distance, a count or a pension plan
_THOUSANDS = re.compile(
    r"(?<![\w$£€.,])(?!401\s?k\b)(\d+)(\.\d+)?\s?(k|grand)\b(?!\s*(?:miles?|km|kms|kilomet(?:re|er)s?|met(?:re|er)s?|steps|"
    r"words|feet|ft|kg|mph|users?|people|employees|staff|members|customers|followers|views|run|race)\b)", re.IGNORECASE)
_CURRENCY_KEY, _LOCK = "main_currency", threading.Lock()
MAIN_CURRENCY_SHARE = 0.8  # a build's amounts are read as in one currency only when this share of them is in it


def question_intervals(question: str, currency: str | None) -> list[Interval]:
    """The amounts a question names: those written with a currency, else thousands typed without one ('who signs off
    a 5k sponsorship') read in `currency`, the build's (`main_currency`); None leaves them unread."""
    own = intervals(question)
    if own or currency is None:
        return own
    sign = _SIGN_OF[currency]
    return intervals(_THOUSANDS.sub(lambda m: f"{sign}{m.group(1)}{m.group(2) or ''} thousand", question))


def follow_up_intervals(question: str, context: str, currency: str | None = None) -> list[Interval]:
    """The amounts a follow-up names, read in the conversation's currency: after 'a gift worth about 100 quid',
    'what if it's more than that, like 300?' names £300. A number with a unit ('20 nights') or a year is no amount;
    without a currency in `context` (the earlier turns) the question's own amounts only (`question_intervals`)."""
    own = question_intervals(question, None)
    currencies = {i.currency for i in intervals(context)}
    if own or len(currencies) != 1:
        return own or question_intervals(question, currency)
    sign = _SIGN_OF[currencies.pop()]
    return intervals(_BARE.sub(lambda m: sign + m.group(0), question))


def build_currency(index: LoadedIndex) -> str | None:
    """The build's `main_currency` over its documents, read on first use and kept with the loaded build."""
    if _CURRENCY_KEY not in index.derived:
        with _LOCK:
            if _CURRENCY_KEY not in index.derived:
                index.derived[_CURRENCY_KEY] = main_currency(doc.text for doc in index.documents.values())
    return index.derived[_CURRENCY_KEY]  # type: ignore[no-any-return]


def main_currency(texts: Iterable[str]) -> str | None:
    """The currency nearly all amounts of `texts` are in (at least `MAIN_CURRENCY_SHARE` of them), else None."""
    counts = Counter(i.currency for text in texts for i in intervals(text))
    if not counts:
        return None
    currency, n = counts.most_common(1)[0]
    return currency if n >= MAIN_CURRENCY_SHARE * sum(counts.values()) else None


def _signed(match: re.Match[str]) -> str:
    """'80 quid' -> '£80', '2 million euros' -> '€2 million'."""
    word = match.group(4).lower().split()[0].rstrip("s")
    return f"{_WORD_SIGN[word]}{match.group(1)}{match.group(2) or ''}{match.group(3) or ''}"


def _is_pair(text: str, first: re.Match[str], second: re.Match[str]) -> bool:
    gap = text[first.end() : second.start()]
    return bool(_PAIR.match(gap) or _AND.match(gap) and _BETWEEN.search(text[max(0, first.start() - 24) : first.start()]))


def _bounded(text: str, m: re.Match[str]) -> Interval:
    """One amount with the bound the words around it give ('up to £500', '£500 or more'), or the amount itself."""
    currency, value = _CURRENCY[m.group(1).strip().lower()], _value(m)
    before, after = text[max(0, m.start() - 24) : m.start()], text[m.end() : m.end() + 16]
    if upper := _UPPER_BEFORE.search(before):
        return Interval(currency, high=value, high_open=upper.group(1).lower() in _OPEN_WORDS)
    if lower := _LOWER_BEFORE.search(before):
        return Interval(currency, low=value, low_open=lower.group(1).lower() in _OPEN_WORDS)
    if _UPPER_AFTER.match(after):
        return Interval(currency, high=value)
    if _LOWER_AFTER.match(after):
        return Interval(currency, low=value)
    return Interval(currency, value, value)


def _joined(found: list[Interval]) -> list[Interval]:
    """'More than £150 and up to £500' is one range: a lower bound followed by an upper bound of the same currency."""
    out: list[Interval] = []
    for interval in found:
        last = out[-1] if out else None
        if (last and last.currency == interval.currency and last.high == math.inf and (last.low > 0 or last.low_open)
                and interval.low == 0 and interval.high >= last.low):
            out[-1] = Interval(last.currency, last.low, interval.high, last.low_open, interval.high_open)
        else:
            out.append(interval)
    return out


def holds_amount(question: list[Interval], sentence: list[Interval]) -> bool:
    """Whether a range the sentence states (not a bare amount) holds an amount or range the question names."""
    ranges = [s for s in sentence if s.low != s.high]
    return any(q.meets(s) for q in question for s in ranges)
