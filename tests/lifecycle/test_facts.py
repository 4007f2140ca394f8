"""Document facts, history rows and version families on small hand-written documents."""

from datetime import date

from rag.ingest.corpus import parse_document
from rag.lifecycle.facts import parse_date, read_facts, version_families


def doc(name: str, text: str):  # type: ignore[no-untyped-def]
    return parse_document(text.encode(), name, "markdown")


POLICY = """# Leave Policy

Document ID: ABC-LVE-001
Version: 2.1
Effective date: 1 March 2024
Next review date: 1 March 2025
Owner: HR Director
Status: Approved

## 1. Entitlement

1.1 Staff receive 25 days of leave each year.

## 2. Document history

| Version | Date | Summary of changes |
|---|---|---|
| 1.0 | 1 January 2020 | First issue |
| 2.1 | 1 March 2024 | Entitlement raised from 23 to 25 days |
"""


def test_dates_are_read_the_ways_policies_write_them():
    assert parse_date("1 September 2025") == date(2025, 9, 1)
    assert parse_date("2025-09-01") == date(2025, 9, 1)
    assert parse_date("September 1, 2025") == date(2025, 9, 1)
    assert parse_date("1st Sept 2025") is None  # 'Sept' is no month abbreviation strptime knows
    assert parse_date("01/09/2025") == date(2025, 9, 1)  # day first, as UK policies write it
    assert parse_date("when the board decides") is None


def test_a_policy_states_its_code_version_dates_owner_status_and_history():
    facts = read_facts(doc("leave.md", POLICY))
    assert (facts.code, facts.version, facts.owner, facts.status) == ("ABC-LVE-001", "2.1", "HR Director", "Approved")
    assert facts.effective == date(2024, 3, 1) and facts.next_review == date(2025, 3, 1)
    assert [(r.version, r.date) for r in facts.history] == [("1.0", "1 January 2020"), ("2.1", "1 March 2024")]
    assert facts.history[1].summary == "Entitlement raised from 23 to 25 days"
    text = doc("leave.md", POLICY).text
    assert text[slice(*facts.review_span)] == "Next review date: 1 March 2025"


def test_history_lines_in_plain_text_are_rows_too():
    text = "Travel Policy\n\nVersion: 3\n\n9. Document history\n\nVersion 2, 1 May 2022: hotel limits added.\nVersion 3, 1 May 2024: rail first class removed.\n"
    facts = read_facts(parse_document(text.encode(), "travel.txt", "text"))
    assert [(r.version, r.summary) for r in facts.history] == [("2", "hotel limits added."), ("3", "rail first class removed.")]


def test_the_newest_effective_copy_is_current_older_are_superseded_future_not_yet_in_force():
    def copy(name: str, version: str, effective: str, code: str = "ABC-LVE-001") -> object:
        return read_facts(doc(name, f"# Leave Policy\n\nDocument ID: {code}\nVersion: {version}\nEffective date: {effective}\nOwner: HR\n\nText here.\n"))

    facts = [copy("v1.md", "1.0", "1 January 2020"), copy("v2.md", "2.0", "1 January 2024"), copy("v3.md", "3.0", "1 January 2026"),
             copy("other.md", "1.0", "1 January 2020", code="ABC-OTH-002")]
    [family] = version_families(facts, date(2025, 6, 1))  # the other code is alone: no family
    assert {s.facts.doc_id: s.standing for s in family} == {"v1.md": "superseded", "v2.md": "current", "v3.md": "not yet in force"}
    assert {s.current for s in family} == {"v2.md"}
    [later] = version_families(facts, date(2026, 2, 1))
    assert {s.facts.doc_id: s.standing for s in later}["v3.md"] == "current"


def test_copies_without_a_code_are_one_policy_by_title_and_owner():
    a = read_facts(doc("a.md", "# Leave Policy\n\nVersion: 1\nEffective date: 1 May 2019\nOwner: HR\nStatus: Superseded\n\nOld text.\n"))
    b = read_facts(doc("b.md", "# Leave Policy\n\nVersion: 2\nEffective date: 1 May 2023\nOwner: HR\n\nNew text.\n"))
    c = read_facts(doc("c.md", "# Leave Policy\n\nVersion: 2\nEffective date: 1 May 2023\nOwner: Finance\n\nOther.\n"))
    [family] = version_families([a, b, c], date(2025, 1, 1))
    assert {s.facts.doc_id: s.standing for s in family} == {"a.md": "superseded", "b.md": "current"}


def test_a_shared_title_without_an_owner_makes_no_family_and_undated_copies_stay_current():
    # found on ObliQA: unrelated guidance notes titled "1) INTRODUCTION", with no owner or dates, were all marked
    # superseded and so kept out of every answer
    a = read_facts(doc("a.md", "# 1) INTRODUCTION\n\nThis note explains the virtual asset rules.\n"))
    b = read_facts(doc("b.md", "# 1) INTRODUCTION\n\nThis note explains continuous disclosure.\n"))
    assert version_families([a, b], date(2025, 1, 1)) == []
    c = read_facts(doc("c.md", "# Leave Policy\n\nOwner: HR\n\nOld text.\n"))
    d = read_facts(doc("d.md", "# Leave Policy\n\nOwner: HR\n\nNew text.\n"))
    [family] = version_families([c, d], date(2025, 1, 1))  # one policy twice, but nothing says which is newer
    assert {s.standing for s in family} == {"current"}
