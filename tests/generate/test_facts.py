"""What a sentence claims that its source must state: numbers, amounts, names and negations."""

import pytest

from rag.generate.facts import facts, names, names_in, negations, numbers


@pytest.mark.parametrize("text, expected", [
    ("Claims over £1,200 need approval.", {"1200", "£1200"}),
    ("Claims over 1200 pounds need approval.", {"1200", "£1200"}),
    ("A budget of £1.2 million and 50% or 20 per cent.", {"1200000", "£1200000", "50%", "20%"}),
    ("Records are kept for six years, or forty-eight hours.", {"6", "48"}),
    ("Patch within 48 hours under clause 9.2.1 from 1 March 2025.", {"48", "9.2.1", "1", "2025"}),
    ("It costs €170.00 or US$200.", {"170", "€170", "200", "$200"}),
    ("No number at all, someone said.", set()),
])
def test_numbers_are_normalised_so_one_quantity_written_two_ways_matches(text, expected):
    assert numbers(text) == expected


def test_names_are_capitalised_runs_and_acronyms_but_not_a_sentence_opening_word():
    assert names("Gifts over £500 need the Head of Compliance and the DPO to agree by 1 March 2025.") == [
        "head of compliance", "dpo", "march"]
    assert names("Under the Travel and Expenses Policy, staff may claim.") == ["travel", "expenses policy"]
    assert names("Ask the Head of the Legal Team or the Audit and Risk Committee.") == ["head of the legal team", "audit", "risk committee"]
    assert names("Location: London (within the M25); Approver: Executive Committee") == ["m25", "committee"]
    assert names("CISO approval is needed.") == ["ciso"]  # an acronym counts even first
    assert names("Payroll records are kept.") == []


def test_a_name_is_missing_unless_the_source_holds_it_as_whole_words():
    source = "More than £500 | Head of Compliance | Recorded in the Gifts Register"
    assert names_in(("head of compliance", "gifts register"), source) == []
    assert names_in(("head of finance", "compliance"), source) == ["head of finance"]
    assert names_in(("gift",), source) == ["gift"]  # 'Gifts' is not 'gift': names are compared whole


@pytest.mark.parametrize("text, count", [
    ("Staff must not share passwords.", 1), ("Staff can't and won't share them.", 2), ("Never share it.", 1),
    ("Claims of no more than £50 need no receipt.", 1), ("The rate must not exceed £220.", 0),
    ("Passwords are at least 12 characters.", 0), ("Reported no later than 72 hours after.", 0),
])
def test_negations_are_counted_and_limits_are_not_negations(text, count):
    assert negations(text) == count


def test_facts_bundle_all_three():
    claim = facts("The DPO must not notify after 72 hours.")
    assert claim.numbers == frozenset({"72"}) and claim.names == ("dpo",) and claim.negations == 1


def test_a_possessive_name_is_found_in_a_source_that_writes_it_with_the_s():
    assert names_in(tuple(names("It follows the Group's rules and the DPO's view.")), "the Group's rules; the DPO's view") == []
    assert names_in(("general counsel",), "only the General Counsel's deputy") == []


def test_a_capital_inside_a_word_starts_no_name():
    assert names("Staff may not use iMessage or WhatsApp for work.") == ["whatsapp"]  # no "message" out of "iMessage"
