"""The check of generated sentences on the mini corpus: what is supported, what is not and why, and the span cited."""

import pytest

from rag.generate.sentences import Generated
from rag.generate.verify import Verifier, VerifyConfig
from rag.indexing.builds import load_current
from rag.models import Passage

CONFIG = VerifyConfig(coverage=0.6, similarity=0.4, infer_uncited=False)


@pytest.fixture
def index(built, settings):
    return load_current(settings)


def passage_with(index, needle: str, rank: int) -> Passage:
    return Passage(next(c for c in index.chunks if needle in c.text), 1.0 / rank, rank, 0.5)


@pytest.fixture
def check(index, fake_embedder):
    """Verdict on `text` citing `cites`; the passages: [1] payroll and CCTV, [2] claims, [3] gifts, [4] the retention
    table, [5] disposal."""
    needles = ["CCTV footage", "Claims over 500", "gifts worth up to", "Visitor badges", "Paper records"]
    passages = [passage_with(index, needle, rank) for rank, needle in enumerate(needles, start=1)]
    verifier = Verifier(index, CONFIG)
    sources = verifier.sources(passages, [1, 2, 3, 4, 5])

    def run(text: str, cites: tuple[int, ...], question: str = "", config: VerifyConfig = CONFIG):
        return Verifier(index, config).check(Generated(text, cites), fake_embedder.encode([text])[0], sources, question)

    return run


def quote(index, verdict) -> str:
    return index.documents[verdict.source.passage.chunk.doc_id].text[verdict.source.start:verdict.source.end]


def test_a_sentence_its_passage_states_is_supported_and_cites_the_exact_sentence(index, check):
    verdict = check("CCTV footage is kept for 30 days unless it is needed for an investigation.", (1,))
    assert verdict.supported and verdict.reason == "" and 0.6 < verdict.support <= 1.0
    assert quote(index, verdict) == "2.2 CCTV footage is kept for 30 days unless it is needed for an investigation."


def test_a_sentence_citing_nothing_is_cited_to_the_passage_that_supports_it_when_inferring(index, check):
    inferring = VerifyConfig(coverage=0.6, similarity=0.4, infer_uncited=True)
    verdict = check("Claims over 500 pounds need approval from a director.", (), config=inferring)
    assert verdict.supported and verdict.source.number == 2
    assert quote(index, verdict) == "3.1 Claims over 500 pounds need approval from a director."
    unsupported = check("Claims over 900 pounds need approval from a director.", (), config=inferring)
    assert not unsupported.supported and "900" in unsupported.reason
    assert check("Claims over 500 pounds need approval from a director.", ()).reason == "cites no passage"


def test_a_table_row_and_two_adjacent_sentences_support_what_they_state_together(index, check):
    row = check("Visitor badges are kept for 1 year.", (4,))
    assert row.supported and quote(index, row) == "| Visitor badges | 1 year |"
    pair = check("Paper records are shredded on site and electronic records are deleted with a certified tool.", (5,))
    assert pair.supported and quote(index, pair).startswith("3.1 Paper records") and quote(index, pair).endswith("approved wiping service.")


@pytest.mark.parametrize("text, cites, reason", [
    ("CCTV footage is kept for 60 days unless it is needed for an investigation.", (1,), "60 not in [1]"),
    ("Claims over 900 pounds need approval from a director.", (2,), "900, £900 not in [2]"),
    ("Claims over 500 pounds need approval from the Records Manager.", (2,), "names 'records manager', not in [2]"),
    ("CCTV footage is not kept for 30 days unless it is needed for an investigation.", (1,), "negates what [1] states"),
    ("CCTV footage is kept for 30 days unless it is needed for an investigation.", (2,), "30 not in [2]"),
    ("Paper records are shredded on site.", (2,), "of its words are in [2]"),
    ("CCTV footage is kept for 30 days.", (), "cites no passage"),
    ("CCTV footage is kept for 30 days.", (7,), "cites [7], which the prompt did not hold"),
    ("It is so.", (1,), "states nothing that can be checked"),
])
def test_unsupported_sentences_are_caught_with_the_reason(check, text, cites, reason):
    verdict = check(text, cites)
    assert not verdict.supported and reason in verdict.reason


def test_a_hard_failure_scores_no_support_and_a_soft_one_its_measured_support(check):
    assert check("CCTV footage is kept for 60 days unless it is needed for an investigation.", (1,)).support == 0.0
    assert 0.0 < check("Claims for paper records need approval on site.", (2,)).support < 0.6


def test_any_cited_passage_may_support_a_sentence(index, check):
    verdict = check("Claims over 500 pounds need approval from a director.", (1, 2))
    assert verdict.supported and verdict.source.number == 2 and quote(index, verdict).startswith("3.1 Claims over 500 pounds")


def test_the_questions_own_amount_passes_when_the_source_states_a_range_that_holds_it(check):
    text = "A gift worth £30 may be accepted without approval."
    assert "£30, 30 not in [3]" in check(text, (3,)).reason or "30" in check(text, (3,)).reason
    assert check(text, (3,), question="Can I accept a gift worth £30?").supported
    assert not check("A gift worth £80 may be accepted without approval.", (3,), question="Can I accept a gift worth £80?").supported


def test_a_number_or_negation_only_the_neighbouring_sentence_states_does_not_support_the_other(check):
    borrowed = check("CCTV footage is kept for 6 years unless it is needed for an investigation.", (1,))
    assert not borrowed.supported and "6 is stated by another sentence of [1]" in borrowed.reason


def test_a_heading_number_is_not_a_number_the_document_states(check):
    verdict = check("CCTV footage is kept for 2 days unless it is needed for an investigation.", (1,))
    assert not verdict.supported and "2 not in [1]" in verdict.reason


def test_a_sentence_that_restates_both_sentences_of_a_pair_takes_numbers_from_both(check):
    verdict = check("Payroll records are kept for 6 years after the end of the tax year and CCTV footage is kept for 30 days.", (1,))
    assert verdict.supported
