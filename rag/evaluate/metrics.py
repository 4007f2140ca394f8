"""Evaluation metrics: pure functions over spans, answers and refusals.

Owns the definitions, so every number `rag eval` prints has one meaning:
- relevance: a passage (or citation) is relevant when it overlaps a gold
  evidence span of the same document by at least 50% of the shorter of the two;
- ranking: hit@k, MRR@10, nDCG@10 (binary gains, each evidence item credited
  once), evidence recall@10, and budgeted recall (share of evidence characters
  inside the passages taken in rank order up to 512 cl100k tokens);
- answers: SQuAD exact match and token F1, containment, citation precision and
  recall, and the supported-sentence rate (see `sentence_supported`);
- abstention: precision, recall and F1 of refusing unanswerable rows, and the
  false-refusal rate; bootstrap confidence intervals and percentiles.
"""

from __future__ import annotations

import math
import random
import re
import string
from collections import Counter
from typing import Callable, Sequence

from rag.ingest.text import content_words

Span = tuple[int, int]
Located = tuple[str, int, int]  # (doc_id, start, end)
EvidenceSpans = Sequence[tuple[str, Sequence[Span]]]  # per evidence item: (doc_id, occurrences)
MIN_OVERLAP = 0.5


def overlaps_enough(a: Span, b: Span, share: float = MIN_OVERLAP) -> bool:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    shorter = min(a[1] - a[0], b[1] - b[0])
    return inter > 0 and shorter > 0 and inter >= share * shorter


def matched_evidence(item: Located, evidence: EvidenceSpans) -> set[int]:
    """Indices of the evidence items this passage or citation is relevant to."""
    doc_id, start, end = item
    return {
        i for i, (ev_doc, spans) in enumerate(evidence)
        if ev_doc == doc_id and any(overlaps_enough((start, end), s) for s in spans)
    }


def ranking_metrics(ranked: Sequence[Located], tokens: Sequence[int], evidence: EvidenceSpans, budget: int = 512) -> dict[str, float]:
    """Per-question retrieval metrics for passages in rank order."""
    matches = [matched_evidence(p, evidence) for p in ranked[:10]]
    first = next((rank for rank, m in enumerate(matches, start=1) if m), None)
    credited: set[int] = set()
    dcg = 0.0
    for rank, m in enumerate(matches, start=1):
        if m - credited:
            dcg += 1 / math.log2(rank + 1)
            credited |= m
    ideal = sum(1 / math.log2(r + 1) for r in range(1, min(len(evidence), 10) + 1))
    return {
        "hit@1": float(first == 1),
        "hit@5": float(first is not None and first <= 5),
        "hit@10": float(first is not None),
        "mrr@10": 1 / first if first else 0.0,
        "ndcg@10": dcg / ideal if ideal else 0.0,
        "recall@10": len(credited) / len(evidence) if evidence else 0.0,
        f"budget_recall@{budget}": budget_coverage(ranked, tokens, evidence, budget),
    }


def budget_coverage(ranked: Sequence[Located], tokens: Sequence[int], evidence: EvidenceSpans, budget: int) -> float:
    """Share of evidence characters inside the passages that fit the token budget, in rank order."""
    taken, used = [], 0
    for passage, n in zip(ranked, tokens):
        if used + n > budget:
            break
        taken.append(passage)
        used += n
    shares = []
    for doc_id, spans in evidence:
        if not spans:
            shares.append(0.0)
            continue
        s, e = spans[0]
        covered = _covered_chars((s, e), [(a, b) for d, a, b in taken if d == doc_id])
        shares.append(covered / max(1, e - s))
    return sum(shares) / len(shares) if shares else 0.0


def _covered_chars(target: Span, pieces: Sequence[Span]) -> int:
    points = sorted((max(a, target[0]), min(b, target[1])) for a, b in pieces if b > target[0] and a < target[1])
    covered, cursor = 0, target[0]
    for a, b in points:
        a = max(a, cursor)
        if b > a:
            covered += b - a
            cursor = b
    return covered


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation) | {"“", "”", "’", "‘"})
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    pred = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        ref = normalize_answer(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            precision, recall = common / len(pred), common / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def containment(prediction: str, golds: Sequence[str]) -> float:
    norm = normalize_answer(prediction)
    return float(any(normalize_answer(g) and normalize_answer(g) in norm for g in golds))


def strip_markers(text: str) -> str:
    return " ".join(re.sub(r"\[\d+\]", " ", text).split())


def answer_sentences(text: str) -> list[tuple[str, set[int]]]:
    """Split an answer into (sentence, cited marker numbers): markers close the sentence before them."""
    parts = re.split(r"((?:\s*\[\d+\])+)", text)
    out = []
    for i in range(0, len(parts), 2):
        sentence = parts[i].strip()
        markers = {int(n) for n in re.findall(r"\d+", parts[i + 1])} if i + 1 < len(parts) else set()
        if sentence:
            out.append((sentence, markers))
    return out


def sentence_supported(sentence: str, sources: Sequence[str], share: float = 0.8) -> bool:
    """Supported: >= 80% of the sentence's content words, and every number in it, occur in its cited sources."""
    if not sources:
        return False
    source_text = " ".join(sources)
    words = content_words(sentence)
    source_words = set(content_words(source_text))
    numbers = re.findall(r"\d+(?:[.,]\d+)*", sentence)
    if any(n not in source_text for n in numbers):
        return False
    return not words or sum(w in source_words for w in words) / len(words) >= share


def abstention_metrics(outcomes: Sequence[tuple[bool, bool]]) -> dict[str, float]:
    """From (answerable, abstained) pairs: refusing unanswerable rows is the positive class."""
    tp = sum(1 for answerable, abstained in outcomes if abstained and not answerable)
    fp = sum(1 for answerable, abstained in outcomes if abstained and answerable)
    fn = sum(1 for answerable, abstained in outcomes if not abstained and not answerable)
    answerable_n = sum(1 for answerable, _ in outcomes if answerable)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_refusal_rate": fp / answerable_n if answerable_n else 0.0,
        "unanswerable": float(tp + fn),
    }


def state_metrics(outcomes: Sequence[tuple[str, bool, float | None]]) -> dict[str, float]:
    """From (status, answerable, right citation) triples: how many answers are in each of the three states, and how often
    each is right: a refusal when the question is unanswerable, a confident answer when it cites the evidence (an
    answered unanswerable question is wrong), an uncertain one when the question is answerable (`may answer` is then
    fair) and, stricter, when its places to look hold the evidence."""
    def share(hits: int, n: int) -> float:
        return hits / n if n else 0.0

    refused = [a for s, a, _ in outcomes if s == "refused"]
    answered = [(a, r) for s, a, r in outcomes if s == "answered"]
    uncertain = [(a, r) for s, a, r in outcomes if s == "uncertain"]
    return {
        "refused": float(len(refused)),
        "refused_precision": share(sum(1 for a in refused if not a), len(refused)),
        "answered": float(len(answered)),
        "answered_precision": share(sum(1 for a, r in answered if a and r), len(answered)),
        "uncertain": float(len(uncertain)),
        "uncertain_answerable": share(sum(1 for a, _ in uncertain if a), len(uncertain)),
        "uncertain_right": share(sum(1 for a, r in uncertain if a and r), len(uncertain)),
    }


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def bootstrap_ci(rows: Sequence[object], statistic: Callable[[Sequence[object]], float], n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of `statistic` over rows resampled with replacement."""
    if not rows:
        return (0.0, 0.0)
    rng = random.Random(seed)
    samples = [statistic([rows[rng.randrange(len(rows))] for _ in rows]) for _ in range(n)]
    return (percentile(samples, 2.5), percentile(samples, 97.5))


def calibrate_threshold(pairs: Sequence[tuple[bool, float]], max_false_refusal: float = 0.05) -> dict[str, float]:
    """The abstention threshold with the best refusal F1 whose false-refusal rate stays within the limit.

    `pairs` are (answerable, confidence); a question is refused when confidence < threshold.
    Candidate thresholds are the midpoints between observed confidences.
    """
    values = sorted({c for _, c in pairs})
    candidates = [0.0] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1e-6 if values else 1.0]
    best = {"threshold": 0.0, "f1": -1.0}
    for t in candidates:
        scores = abstention_metrics([(answerable, conf < t) for answerable, conf in pairs])
        if scores["false_refusal_rate"] <= max_false_refusal and scores["f1"] > best["f1"]:
            best = {"threshold": t, **scores}
    return best
