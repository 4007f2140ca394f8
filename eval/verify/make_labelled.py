"""Build the labelled verification set from the gold evidence of docs_corpus/: supported and unsupported sentences.

Every quotable sentence inside a gold evidence span of the three gold sets (deduplicated) becomes a base sentence,
written as a model would see and restate it (its display text: a table row with its header labels; a leading clause
number dropped). From each base, by rule:

supported (the verifier should keep them)
  evidence      the base sentence itself
  reworded      light rewordings that keep the claim: "Under the <document title>, ...", a modal or a common word
                swapped ("must" -> "has to", "kept" -> "retained", "staff" -> "employees", ...), a table row as a sentence
                ("For Payroll records, the retention period is 6 years and ...")
unsupported (the verifier should remove them)
  number        a number changed (48 -> 96; a year moved by one)
  amount        an amount changed (£220 -> £330), and its currency swapped (£ -> €)
  date          a date's month swapped for another month
  entity        a role, team, committee, document title or acronym swapped for another of the same kind found in the
                corpus (and not in the base sentence)
  negation      a negation added after the first auxiliary ("must" -> "must not", "can" -> "cannot")
  wrong_passage the base sentence, cited to another passage of the same document (the sentence of it that shares the
                most words with the base, at least 400 characters away, not a near duplicate, not stating all its numbers)

Each row: {"id", "base", "kind", "supported", "sentence", "question", "doc", "cite": {"start", "end", "text"},
"evidence": {"start", "end"}, "split", "gold"}. `cite` is a sentence inside the cited passage (the measurement cites the
build's chunk that holds it and, for wrong_passage, not the evidence); `split` (dev or test, by a hash of the base) lets
thresholds be chosen on one half and reported on the other. Deterministic: the same corpus and gold give the same file.

    python eval/verify/make_labelled.py [--corpus docs_corpus] [--out eval/verify/labelled.jsonl]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rag.evaluate.gold import find_spans  # noqa: E402
from rag.indexing.sentences import quotable_spans, sentence_display  # noqa: E402
from rag.ingest.corpus import load_corpus  # noqa: E402
from rag.ingest.text import content_words  # noqa: E402
from rag.models import Document  # noqa: E402

GOLD = ["eval/gold/docs_corpus.jsonl", "eval/gold/docs_corpus_natural.jsonl", "eval/gold/docs_corpus_dialogues.jsonl"]
MONTHS = "January February March April May June July August September October November December".split()
SWAPS = [(" must ", " has to "), (" are required to ", " must "), (" is required to ", " must "), (" kept ", " retained "),
         (" retained ", " kept "), (" staff ", " employees "), (" employees ", " staff "), (" within ", " in no more than "),
         (" may ", " can "), (" should ", " ought to "), (" ensure ", " make sure "), (" approve ", " sign off "),
         (" immediately ", " straight away "), (" obtain ", " get ")]
AUXILIARIES = re.compile(r"\b(must|may|will|shall|should|can|is|are|was|were|has|have|does|do)\b(?!\s+not\b)")
NEGATED = re.compile(r"\b(not|no|never|cannot|without)\b|n't\b", re.IGNORECASE)
ROLE = re.compile(r"\b(?:Head of(?: [A-Z][\w&-]+)+|(?:[A-Z][\w&-]+ ){0,3}(?:Officer|Director|Manager|Committee|Team|Board|Desk|"
                  r"Lead|Owner|Controller|Secretary|Counsel|Department|Function|Partner|Authority|Administrator|Coordinator))\b")
ACRONYM = re.compile(r"\b[A-Z]{2,6}\b")
AMOUNT = re.compile(r"(£|€|US\$|\$)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")
NUMBER = re.compile(r"(?<![\w.,£€$-])(\d{1,3}(?:,\d{3})+|\d+)(?![\w.,]\d|[\w-])")
CLAUSE = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?|[a-z]\)|\([a-z0-9]+\))\s+")


def split_of(base: str) -> str:
    return "dev" if int(hashlib.sha256(base.encode()).hexdigest(), 16) % 2 == 0 else "test"


def pick(options: list[str], key: str) -> str:
    return options[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(options)]


def base_sentences(documents: dict[str, Document]) -> Iterator[dict[str, Any]]:
    """Unique quotable sentences inside gold evidence, with the first gold question that cites them."""
    seen: set[tuple[str, int]] = set()
    for gold in GOLD:
        for line in (ROOT / gold).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for ev in row.get("evidence", []) if row.get("answerable", True) else []:
                doc = documents.get(ev["doc"])
                spans = find_spans(doc, ev["text"]) if doc else ()
                if not spans:
                    continue
                a, b = spans[0]
                for s, e in quotable_spans(doc):
                    inside = s >= a - 2 and e <= b + 2 or s <= a and e >= b
                    if inside and (doc.doc_id, s) not in seen:
                        seen.add((doc.doc_id, s))
                        text = CLAUSE.sub("", sentence_display(doc.text, s, e)).strip()
                        if len(content_words(text)) >= 3:
                            yield {"doc": doc.doc_id, "start": s, "end": e, "text": text, "question": row["question"], "gold": row["id"]}


def reworded(base: dict[str, Any], title: str) -> list[str]:
    text = base["text"]
    out = []
    if ": " in text and "; " in text:  # a table row with its header labels
        pairs = [p.split(": ", 1) for p in text.split("; ") if ": " in p]
        if len(pairs) >= 2:
            said = [f"{label}: {value}" if label.endswith("?") else f"the {label.lower()} is {value}" for label, value in pairs[1:]]
            out.append(f"For {pairs[0][1]}, " + ", ".join(said) + ".")
    else:
        first = text if re.match(r"^[A-Z]{2,}", text) else text[:1].lower() + text[1:]
        out.append(f"Under the {title}, {first}")
    padded = f" {text} "
    for old, new in SWAPS:
        if old in padded:
            out.append(padded.replace(old, new, 1).strip())
            break
    return out


def changed_number(text: str, key: str) -> str | None:
    for m in NUMBER.finditer(text):
        raw = m.group(1)
        value = int(raw.replace(",", ""))
        new = value + pick([1, -1], key) if 1900 <= value <= 2100 else value * 2 if value > 1 else value + 1
        if new > 0:
            fmt = f"{new:,}" if "," in raw else str(new)
            changed = text[: m.start()] + fmt + text[m.end():]
            if fmt not in text:
                return changed
    return None


def changed_amounts(text: str) -> list[str]:
    """The first amount's value raised by half, and its currency swapped (each when it changes the claim)."""
    m = AMOUNT.search(text)
    if not m:
        return []
    other = {"£": "€", "€": "£", "$": "£", "US$": "£"}[m.group(1)]
    out = [text[: m.start()] + other + text[m.start() + len(m.group(1)):]]
    value = int(m.group(2).replace(",", "")) * 1.5
    new = f"{int(round(value)):,}" if "," in m.group(2) else str(int(round(value)))
    if not re.search(rf"{re.escape(m.group(1) + new)}(?![\d,])", text):  # 'from £100 to £150': £150 is there already
        out.insert(0, text[: m.start(2)] + new + text[m.end(2):])
    return out


def changed_date(text: str, key: str) -> str | None:
    for month in MONTHS:
        if re.search(rf"\b{month}\b", text):
            other = pick([m for m in MONTHS if m != month], key)
            return re.sub(rf"\b{month}\b", other, text, count=1)
    return None


def entities(documents: dict[str, Document]) -> dict[str, list[str]]:
    """Roles and bodies, acronyms and document titles of the corpus, by kind."""
    roles, acronyms = set(), set()
    for doc in documents.values():
        roles.update(m.group(0).strip() for m in ROLE.finditer(doc.text))
        acronyms.update(m.group(0) for m in ACRONYM.finditer(doc.text) if m.group(0) not in {"I", "A", "UK", "EU", "US"})
    titles = {doc.title for doc in documents.values() if len(doc.title.split()) >= 2}
    return {"role": sorted(r for r in roles if len(r.split()) <= 5), "acronym": sorted(acronyms), "title": sorted(titles)}


def swapped_entity(text: str, kinds: dict[str, list[str]], key: str) -> str | None:
    for kind, pattern in (("title", None), ("role", ROLE), ("acronym", ACRONYM)):
        found = [t for t in kinds[kind] if t in text] if pattern is None else [m.group(0).strip() for m in pattern.finditer(text)]
        found = [f for f in found if f in kinds[kind]]
        if found:
            old = max(found, key=len)
            options = [o for o in kinds[kind] if o.lower() not in text.lower() and old.lower() not in o.lower()]
            if options:
                return text.replace(old, pick(options, key), 1)
    return None


def negated(text: str) -> str | None:
    if NEGATED.search(text):
        return None
    m = AUXILIARIES.search(text)
    if not m:
        return None
    word = m.group(1)
    return text[: m.start()] + ("cannot" if word == "can" else f"{word} not") + text[m.end():]


def wrong_sentence(base: dict[str, Any], doc: Document, spans: list[tuple[int, int]]) -> tuple[int, int] | None:
    words = set(content_words(base["text"]))
    digits = set(re.findall(r"\d+", base["text"]))
    best, best_score = None, 0.0
    for s, e in spans:
        if abs(s - base["start"]) < 400:
            continue
        other = doc.text[s:e]
        theirs = set(content_words(sentence_display(doc.text, s, e)))
        jaccard = len(words & theirs) / len(words | theirs) if words | theirs else 0.0
        if jaccard > 0.6 or (digits and digits <= set(re.findall(r"\d+", other))):
            continue
        if jaccard > best_score:
            best, best_score = (s, e), jaccard
    return best


def rows_for(n: int, base: dict[str, Any], doc: Document, spans: list[tuple[int, int]], kinds: dict[str, list[str]]) -> list[dict]:
    name = f"v{n:04d}"
    cite = {"start": base["start"], "end": base["end"], "text": doc.text[base["start"]:base["end"]]}
    common = {"base": name, "question": base["question"], "doc": doc.doc_id, "evidence": {"start": base["start"], "end": base["end"]},
              "split": split_of(name), "gold": base["gold"]}
    made: list[tuple[str, bool, str | None, dict]] = [("evidence", True, base["text"], cite)]
    made += [("reworded", True, r, cite) for r in reworded(base, doc.title)]
    amounts = changed_amounts(base["text"])
    made += [("amount", False, amount, cite) for amount in amounts]
    made += [("number", False, None if amounts else changed_number(base["text"], name), cite),
             ("date", False, changed_date(base["text"], name), cite),
             ("entity", False, swapped_entity(base["text"], kinds, name), cite), ("negation", False, negated(base["text"]), cite)]
    wrong = wrong_sentence(base, doc, spans)
    if wrong:
        made.append(("wrong_passage", False, base["text"], {"start": wrong[0], "end": wrong[1], "text": doc.text[wrong[0]:wrong[1]]}))
    out, count = [], {}
    for kind, supported, sentence, cited in made:
        if sentence and (supported or sentence != base["text"] or kind == "wrong_passage"):
            count[kind] = count.get(kind, 0) + 1
            out.append({"id": f"{name}-{kind}-{count[kind]}", "kind": kind, "supported": supported, "sentence": sentence,
                        "cite": cited, **common})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "docs_corpus")
    parser.add_argument("--out", type=Path, default=ROOT / "eval/verify/labelled.jsonl")
    args = parser.parse_args()
    documents = {d.doc_id: d for d in load_corpus(args.corpus).documents}
    kinds = entities(documents)
    spans = {doc_id: quotable_spans(doc) for doc_id, doc in documents.items()}
    rows = [r for n, base in enumerate(base_sentences(documents), start=1)
            for r in rows_for(n, base, documents[base["doc"]], spans[base["doc"]], kinds)]
    with open(args.out, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    by_kind: dict[str, int] = {}
    for row in rows:
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + 1
    print(f"{len(rows)} rows -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())))


if __name__ == "__main__":
    main()
