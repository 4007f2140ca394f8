"""Lists in policy text: the lead-in of an item, the items of a lead-in, and quoting both in answers."""

import pytest

from rag.answer.lists import continues_list, item_spans, lead_in_span
from tests.answer import sentence_at

SOCIAL = """# Social Media Policy

## 7. Personal use

7.1 Staff may say on social media that they work for the Group.

7.2 When using social media, staff must not:

1. Disclose Confidential information, including customer names.
2. Comment on the Group's share price, results or any possible transaction.
3. Post photographs of security systems or ID badges.

7.3 Managers should not send friend requests to members of their own team.

## 9. Data quality

9.1 Staff must make sure that personal data is:

9.1.1 processed lawfully and fairly;
9.1.2 kept accurate and up to date.

9.2 Staff must report a suspected breach within one hour.

## 13. Items that are not reimbursed

- Parking fines, speeding fines and penalty fares.
- Loyalty scheme membership fees and airport lounge access.
- Childcare and pet care costs.

## 3. What concerns can be raised

3.1 You can raise a concern about any suspected wrongdoing connected with the Group's business. Examples include:

- fraud, theft, bribery or corruption;
- money laundering or breaches of financial sanctions;

## 8. Clean desk

8.2 Before leaving the office at the end of each day, every member of staff must:

1. Lock all paper documents in a pedestal, locker or cabinet.

2. Remove all papers from printers, scanners and photocopiers.

3. Wipe whiteboards and remove flip-chart sheets.

## 14. Travel to risky places

Travel to a high-risk destination needs the approval of Group Security.

The traveller must complete the security briefing before departure.
"""


@pytest.fixture
def loaded(assistant_over):
    return assistant_over("social.md", SOCIAL)


def _span(assistant, needle):
    return sentence_at(assistant, "social.md", needle)


def _text(doc, span):
    return doc.text[span[0]:span[1]] if span else None


@pytest.mark.parametrize("lead, item, expected", [
    ("7.2 staff must not:", "2. Comment on the share price.", True),  # a list marker
    ("9.1 personal data is:", "9.1.2 kept accurate;", True),  # a sub-clause of the lead-in's clause
    ("9.1 personal data is:", "9.2 Staff must report a breach.", False),  # a clause of its own ends the list
    ("Findings are dealt with as follows:", "(ii) the line manager is told;", True),
    ("Rates:", "- Motorcycles: 24p per mile.", True),
    ("1.2.1.(1) Subject to (2), the Rulebook applies to:", "(b) the Persons specified in Rule 1.3.3;", True),
    ("1.2.1.(1) Subject to (2), the Rulebook applies to:", "1.2.1.(2) The Rulebook does not apply to a Fund.", False),
])
def test_what_continues_a_list(lead, item, expected):
    assert continues_list(lead, item) is expected


def test_a_numbered_item_is_introduced_by_the_sentence_ending_with_a_colon(loaded):
    index, doc, item = _span(loaded, "2. Comment on")
    assert _text(doc, lead_in_span(index, doc, item)) == "7.2 When using social media, staff must not:"
    index, doc, item = _span(loaded, "9.1.2 kept")
    assert _text(doc, lead_in_span(index, doc, item)) == "9.1 Staff must make sure that personal data is:"


def test_a_short_lead_in_ending_a_sentence_s_line_counts_with_that_sentence(loaded):
    index, doc, item = _span(loaded, "- money laundering")
    lead = _text(doc, lead_in_span(index, doc, item))
    assert lead.startswith("3.1 You can raise a concern") and lead.endswith("Examples include:")


def test_marked_items_may_stand_a_blank_line_apart(loaded):  # as a PDF's text puts them
    index, doc, lead = _span(loaded, "8.2 Before leaving")
    assert [_text(doc, s)[:2] for s in item_spans(index, doc, lead)] == ["1.", "2.", "3."]
    index, doc, item = _span(loaded, "3. Wipe")
    assert _text(doc, lead_in_span(index, doc, item)).startswith("8.2 Before leaving")


def test_clauses_and_prose_are_no_list_items(loaded):
    for needle in ("7.3 Managers", "9.2 Staff must report", "7.1 Staff may", "The traveller must complete"):
        index, doc, span = _span(loaded, needle)
        assert lead_in_span(index, doc, span) is None, needle


def test_a_run_of_lines_under_a_heading_is_introduced_by_the_heading(loaded):
    index, doc, item = _span(loaded, "- Loyalty scheme")
    assert _text(doc, lead_in_span(index, doc, item)) == "13. Items that are not reimbursed"


def test_a_lead_in_introduces_its_items_up_to_the_next_clause(loaded):
    index, doc, lead = _span(loaded, "7.2 When using")
    assert [_text(doc, s)[:3] for s in item_spans(index, doc, lead)] == ["1. ", "2. ", "3. "]
    index, doc, lead = _span(loaded, "9.1 Staff must")
    assert [_text(doc, s)[:5] for s in item_spans(index, doc, lead)] == ["9.1.1", "9.1.2"]


def test_an_answer_quoting_a_list_item_quotes_what_introduces_it_first(loaded):
    answer = loaded.ask("Comment on the Group's share price, results or any possible transaction")
    quotes = [c.quote for c in answer.citations]
    assert quotes[:2] == ["7.2 When using social media, staff must not:",
                          "2. Comment on the Group's share price, results or any possible transaction."], answer.answer
    assert answer.answer.startswith("7.2 When using social media, staff must not: [1] 2. Comment on")
    doc = loaded.document("social.md")
    assert all(doc.text[c.start:c.end] == c.quote for c in answer.citations)  # exact spans, the lead-in's too


def test_an_answer_quoting_an_excluded_item_quotes_the_heading_that_excludes_it(loaded):
    answer = loaded.ask("Loyalty scheme membership fees and airport lounge access")
    assert [c.quote for c in answer.citations][:2] == [
        "13. Items that are not reimbursed", "- Loyalty scheme membership fees and airport lounge access."], answer.answer
