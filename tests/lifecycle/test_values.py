"""The values a sentence states, and when two sentences disagree on one."""

from rag.lifecycle.values import differing, extract_values, modality


def kinds(sentence: str) -> dict[str, set[str]]:
    return {k: set(v) for k, v in extract_values(sentence).by_kind.items()}


def test_durations_frequencies_amounts_and_counts():
    assert kinds("Claims must be submitted within 30 days.") == {"duration": {"30 days"}, "modality": {"oblige"}}
    assert kinds("Leavers are disabled within 24 hours.")["duration"] == {"1 days"}
    assert kinds("Posts are paused within 30 minutes.")["duration"] == {"0.5 hours"}
    assert kinds("Equipment is returned within 10 working days.")["duration"] == {"10 working days"}
    assert kinds("Access is reviewed quarterly.")["frequency"] == kinds("Access is reviewed every 90 days.")["frequency"] == {"4"}
    assert kinds("Owners review access every six months.")["frequency"] == {"2"}
    assert "duration" not in kinds("Owners review access every six months.")  # a period between reviews is a frequency
    assert kinds("The hotel limit is £180 a night.")["amount"] == {"£180"}
    assert kinds("Passwords must be at least 14 characters long.")["count"] == {"14 characters"}


def test_a_band_of_a_threshold_table_is_no_value():
    assert "amount" not in kinds("Up to £1,000 | Head of Department | Recorded")
    assert "amount" not in kinds("More than £150 and up to £500 | Line manager")


def test_approvers_are_roles_named_with_an_approval():
    assert kinds("Business class flights require the approval of the Chief Financial Officer.")["approver"] == {"chief financial officer"}
    assert "approver" not in kinds("The Chief Financial Officer owns this policy.")


def test_modality_a_prohibition_wins():
    assert modality("Staff may use personal laptops.") == "permit"
    assert modality("Personal laptops must not be used.") == "prohibit"
    assert modality("Removable media | Not permitted") == "prohibit"
    assert modality("Staff must lock laptops.") == "oblige"
    assert modality("Laptops are issued by IT.") == ""
    assert modality("Users may use social media but must not disclose Confidential information.") == ""  # both
    assert modality("Only the Communications team may speak for the Group.") == ""  # a restriction, not a permission
    assert modality("Gifts may only be given with the approval of Compliance.") == ""


def test_differing_needs_the_same_kind_with_nothing_in_common():
    a = extract_values("Claims must be submitted within 30 days.")
    assert differing(a, extract_values("Claims must be submitted within 60 days.")) == ["duration"]
    assert differing(a, extract_values("Claims must be submitted within 30 days or sooner.")) == []
    assert differing(a, extract_values("The hotel limit is £180.")) == []  # no kind in common
    assert differing(extract_values("Passwords must be at least 14 characters."), extract_values("Names are at most 20 words.")) == []
    assert differing(extract_values("Staff may use personal laptops."), extract_values("Personal laptops must not be used.")) == ["modality"]
    assert differing(extract_values("Incidents are reported within 1 hour."), extract_values("Incident records are kept for 6 years.")) == []
    assert differing(extract_values("Incidents are reported within 1 hour."), extract_values("Incidents are reported within 30 minutes.")) == ["duration"]
    assert differing(extract_values("Staff must lock laptops."), extract_values("Laptops must not be shared.")) == []  # must / must not: two rules


def test_a_dotted_clause_number_is_no_value():
    # found building ObliQA: "Rule 6.8.9 days ..." read as a number of days stopped the whole build
    assert not extract_values("Under Rule 6.8.9 days are counted from the date of receipt.").get("duration")
    assert extract_values("Under Rule 6.8 the notice is given within 14 days.").get("duration") == {"14 days"}
    assert extract_values("Records are kept for 1,000 days or 2.5 years.").get("duration") == {"1000 days", "912.5 days"}


def test_a_prohibition_with_an_exception_is_no_plain_prohibition():
    # ObliQA: 'must not promote ... unless it holds the designation' was set against 'may receive permission'
    assert modality("A Fund Manager must not promote a Fund as a Green Fund unless it holds the designation.") == ""
    assert modality("Staff must not share passwords without the prior approval of IT.") == ""
    assert modality("Personal laptops must not be used to access Group systems.") == "prohibit"
