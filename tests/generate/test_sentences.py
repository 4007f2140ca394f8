"""Streamed replies cut into sentences with the passages each cites, however the model writes its markers."""

import pytest

from rag.generate.sentences import Generated, SentenceCutter, cited_numbers, declines

REPLY = ("Payroll records are kept for 6 years [1]. Staff, e.g. managers, approve claims. [2][3] The policy [2] says more "
         "about it.\n- Visitor badges are kept 1 year [1]\n1. CCTV is kept 30 days [2, 4] and (more) This ends")
EXPECTED = [Generated("Payroll records are kept for 6 years.", (1,)), Generated("Staff, e.g. managers, approve claims.", (2, 3)),
            Generated("The policy says more about it.", (2,)), Generated("Visitor badges are kept 1 year", (1,)),
            Generated("CCTV is kept 30 days and (more) This ends", (2, 4))]


def cut(text: str, size: int) -> list[Generated]:
    cutter = SentenceCutter()
    out = [s for i in range(0, len(text), size) for s in cutter.feed(text[i:i + size])]
    return out + cutter.close()


@pytest.mark.parametrize("size", [1, 3, 7, len(REPLY)])
def test_sentences_are_the_same_however_the_text_arrives(size):
    assert cut(REPLY, size) == EXPECTED


def test_a_sentence_is_handed_back_only_once_the_next_one_has_begun():
    cutter = SentenceCutter()
    assert cutter.feed("Payroll records are kept for 6 years.") == []
    assert cutter.feed(" [1]") == []  # its markers may still be coming
    assert cutter.feed(" CCTV") == [Generated("Payroll records are kept for 6 years.", (1,))]
    assert cutter.feed(" is kept 30 days [2].") == []
    assert cutter.close() == [Generated("CCTV is kept 30 days.", (2,))]


@pytest.mark.parametrize("markers, numbers", [
    ("[1]", [1]), ("[1, 2]", [1, 2]), ("[1][2]", [1, 2]), ("[2-4]", [2, 3, 4]), ("[Passage 3]", [3]), ("[1 and 3]", [1, 3]),
    ("[2] [2]", [2]), ("no markers", []),
])
def test_markers_in_the_forms_models_write(markers, numbers):
    assert cited_numbers(markers) == numbers


def test_bold_list_marks_and_empty_pieces_are_dropped():
    assert cut("**Payroll** records are kept [1].\n\n[2]\n* Badges 1 year [3]", 4) == [
        Generated("Payroll records are kept.", (1,)), Generated("Badges 1 year", (3,))]


@pytest.mark.parametrize("text, yes", [
    ("The documents do not answer this question.", True), ("The passages don't say.", True),
    ("The provided documents do not mention gifts.", True), ("Documents do not need a cover page.", False),
    ("Payroll records are kept for 6 years.", False),
])
def test_a_reply_that_declines_is_told_apart(text, yes):
    assert declines(Generated(text, ())) is yes
