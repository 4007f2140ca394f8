import pytest

from rag.search.references import carried_share, extract_references


def labels(question):
    return [(r.label, r.kind) for r in extract_references(question)]


@pytest.mark.parametrize(
    "question, expected",
    [
        ("What does clause 4.2.1 say?", [("4.2.1", "number")]),
        ("What is the scope of Article 21?", [("Article 21", "number")]),
        ("What is in Section 3(b)?", [("Section 3", "number")]),
        ("Under Rule 9.7.3, who approves?", [("9.7.3", "number")]),
        ("Do Rules 8.3.1 and 8.4.1 apply?", [("8.3.1", "number"), ("8.4.1", "number")]),
        ("According to GEN 3.3, which firm?", [("3.3", "number"), ("GEN", "term")]),
        ("When is a DPIA needed?", [("DPIA", "term")]),
        ("What does 'Personal Data' mean?", [("Personal Data", "term")]),
        ("How long are payroll records kept?", []),
        ("Who signs off a contract worth £1.5 million?", []),  # a one-dot quantity is not a clause
        ("How many hours? 48 hours for a critical patch", []),
    ],
)
def test_extracts_the_references_a_question_names(question, expected):
    assert labels(question) == expected


def test_a_clause_number_finds_itself_and_its_subclauses_only():
    ref = extract_references("clause 4.2.1")[0]
    assert ref.carried_by("4.2.1 Privileged accounts") and ref.carried_by("see 4.2.1(a).") and ref.carried_by("4.2.1.3 more")
    assert not ref.carried_by("4.2.10 Other") and not ref.carried_by("14.2.1 Other") and not ref.carried_by("4.2 Passwords")


def test_keyword_references_match_their_number_exactly():
    ref = extract_references("Article 21")[0]
    assert ref.carried_by("ARTICLE 21 - Scope") and ref.carried_by("under Articles 21 and 22")
    assert not ref.carried_by("Article 210") and not ref.carried_by("21 articles")


def test_acronyms_match_whole_words_and_plurals():
    ref = extract_references("How do RIEs work?")[0]
    assert ref.label == "RIE" and ref.carried_by("an RIE must") and ref.carried_by("all RIEs")
    assert not ref.carried_by("PRIEST")


def test_carried_share_counts_each_reference_once():
    refs = extract_references("Do clauses 2.1 and 2.2 apply to 3.1.1?")
    assert carried_share(refs, "3.1.1 applies") == pytest.approx(1 / len(refs))
    assert carried_share((), "anything") == 0.0


def test_a_clause_is_defined_where_a_line_starts_with_it_not_where_it_is_mentioned():
    from rag.search.references import extract_references

    (ref,) = [r for r in extract_references("What does clause 6.4 say?") if r.kind == "number"]
    assert ref.defined_by("6.3 Fees are paid monthly.\n6.4 Intermediaries need approval.")
    assert ref.defined_by("**6.4** Intermediaries need approval.")
    assert not ref.defined_by("5. Obtain the approvals required by clause 6.4 before any work starts.")


def test_a_named_version_is_found_in_the_question_and_matches_only_its_history_row():
    from rag.search.references import named_versions, names_version

    assert named_versions("When did version 3.2 of the policy take effect, and what changed since version 3.1?") == ("3.2", "3.1")
    assert named_versions("What does clause 3.2 say?") == ()
    assert extract_references("When did version 3.2 take effect?") == ()  # a version is not a clause
    assert named_versions("When did version 1.2.1 take effect?") == ("1.2.1",)
    assert extract_references("When did version 1.2.1 take effect?") == ()  # three parts: still not clause 1.2.1
    assert named_versions("Is TLS version 1.2 allowed?") == ()  # a protocol's version, not the document's
    assert names_version("Version: 3.2; Date: 1 March 2025; Summary of changes: patch times cut", ("3.2",))
    assert not names_version("Version: 3.2", ("3.2",))  # the front-matter line says nothing about the change
    assert not names_version("Version: 3.21; Date: 1 May 2025", ("3.2",))
    assert not names_version("3.2 Staff must lock their screens.", ("3.2",))
