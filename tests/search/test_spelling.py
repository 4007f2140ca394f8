"""Reading misspelt question words as the build's words (rag.search.spelling), on a few hand-written sentences."""

from __future__ import annotations

import pytest

from rag.search.spelling import Speller, slips, within_two

TEXTS = (
    "Service account passwords must be at least 32 characters long. A password is never shared.",
    "Staff may claim accommodation of up to £150 a night; the agency contract covers contractors.",
    "Their manager approves leave. Users report incidents to the Service Desk.",
)


@pytest.fixture
def speller() -> Speller:
    return Speller(lambda: TEXTS, model_vocabulary=frozenset({"gmail"}))


def test_a_slip_is_read_as_the_builds_word_in_the_case_it_was_typed(speller):
    read = speller.read("how long does a servce account pasword need to be?")
    assert read.text == "how long does a service account password need to be?"
    assert read.changes == (("servce", "service"), ("pasword", "password"))
    assert speller.read("Servce account").text == "Service account"
    assert speller.read("SERVCE").text == "SERVICE"


def test_missing_doubled_swapped_and_wrong_letters_and_two_slips_in_a_long_word(speller):
    assert speller.reading("passwrod") == "password"  # swapped
    assert speller.reading("passsword") == "password"  # one too many
    assert speller.reading("pessword") == "password"  # one wrong, in a word of six letters or more
    assert speller.reading("acommodatoin") == "accommodation"  # one missing and two swapped, in a word of eight or more


def test_words_that_something_knows_are_read_as_typed(speller):
    assert speller.read("can i dose the claim").changes == ()  # an English word, though not the build's
    assert speller.reading("gmail") is None  # the embedding model's own word
    assert speller.reading("passwords") is None  # the build's word
    assert speller.reading("agencys") is None  # a known word's plural or possessive without its apostrophe
    assert speller.reading("organised") is None  # a British spelling of a listed word
    assert speller.reading("theyre") is None  # a contraction without its apostrophe


def test_short_words_the_first_letter_and_stopword_readings_are_left_alone(speller):
    assert speller.reading("pasw") is None  # under five letters: mostly acronyms and slang
    assert speller.reading("bassword") is None  # only the first letter differs: never changed
    assert speller.reading("thier") is None  # its likeliest reading is a stopword


def test_a_question_with_no_unknown_word_comes_back_unchanged(speller):
    question = "Who approves leave for contractors?"
    assert speller.read(question).text == question and speller.read(question).changes == ()


def test_slips_keep_the_first_letter_and_within_two_counts_swaps_as_one():
    assert "ervice" not in slips("service") and all(w[0] == "s" for w in slips("service"))
    assert within_two("reciept", "receipt") and within_two("acomodation", "accommodation")
    assert not within_two("password", "passage")


def test_the_assistant_searches_the_reading_and_keeps_the_question_as_typed(assistant_over):
    assistant = assistant_over("accounts.md", "# Service Accounts\n\nService account passwords must be rotated every 12 months.\n")
    answer = assistant.ask("how often are servce account paswords rotated?")
    assert answer.question == "how often are servce account paswords rotated?"
    assert answer.standalone_question == "how often are service account passwords rotated?"
    assert answer.citations and "rotated every 12 months" in answer.citations[0].quote


def test_off_reads_the_question_as_typed(assistant_over):
    assistant = assistant_over("accounts.md", "# Service Accounts\n\nService account passwords must be rotated every 12 months.\n")
    plain = type(assistant)(assistant.settings.replace(spelling=False), embedder=assistant._embedder)
    assert plain.ask("how often are servce account paswords rotated?").standalone_question == \
        "how often are servce account paswords rotated?"
