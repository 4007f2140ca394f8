"""Antecedents: a quoted sentence opening with 'They' or 'This' comes after the sentence it points back to."""

import pytest

from rag.answer.antecedents import antecedent_span, leans_back
from tests.answer import sentence_at

JOBS = """# Social Media Policy

## 7. Personal use

7.6 Staff may share Group job advertisements on their personal accounts. They must not post advertisements of their own for Group vacancies.

7.7 This policy applies to every platform, including messaging apps.

It is reviewed every year by Corporate Communications.
"""


@pytest.mark.parametrize("text, expected", [
    ("They must not post advertisements of their own.", True),
    ("This includes lost or stolen devices.", True),
    ("Such a request must be refused.", True),
    ("Typical examples are an email sent to the wrong recipient.", True),
    ("However, a manager may approve an exception.", True),
    ("This policy applies to every platform.", False),  # names the document, points back at nothing
    ("These Rules apply to every Authorised Person.", False),
    ("Staff may share job advertisements.", False),
])
def test_which_sentences_lean_back(text, expected):
    assert leans_back(text) is expected


@pytest.fixture
def loaded(assistant_over):
    return assistant_over("jobs.md", JOBS)


def _sentence(assistant, needle):
    return sentence_at(assistant, "jobs.md", needle)


def test_the_antecedent_is_the_sentence_before_in_the_same_paragraph(loaded):
    index, doc, span = _sentence(loaded, "They must not")
    before = antecedent_span(index, doc, span)
    assert before and doc.text[before[0]:before[1]].startswith("7.6 Staff may share Group job advertisements")
    index, doc, span = _sentence(loaded, "It is reviewed")
    assert antecedent_span(index, doc, span) is None  # a new paragraph: no sentence of its own to lean on


def test_an_answer_quoting_a_sentence_that_leans_back_quotes_its_antecedent_first(loaded):
    answer = loaded.ask("They must not post advertisements of their own for Group vacancies")
    quotes = [c.quote for c in answer.citations]
    assert quotes[:2] == ["7.6 Staff may share Group job advertisements on their personal accounts.",
                          "They must not post advertisements of their own for Group vacancies."], answer.answer
