import math

import pytest

from rag.search.amounts import Interval, holds_amount, intervals


@pytest.mark.parametrize("text, expected", [
    ("Who approves an expense claim of £1,200?", [Interval("GBP", 1200.0, 1200.0)]),
    ("Up to £500 | Line manager", [Interval("GBP", 0.0, 500.0)]),
    ("£500.01 to £2,500 | Head of Department", [Interval("GBP", 500.01, 2500.0)]),
    ("More than £150 and up to £500 | Line manager", [Interval("GBP", 150.0, 500.0, low_open=True)]),
    ("More than £500 | Head of Compliance", [Interval("GBP", 500.0, math.inf, low_open=True)]),
    ("a budget of £1.5m or more", [Interval("GBP", 1_500_000.0, math.inf)]),
    ("between €10 and €20", [Interval("EUR", 10.0, 20.0)]),
    ("US$380 per night, or less than $50 for meals", [Interval("USD", 380.0, 380.0), Interval("USD", 0.0, 50.0, high_open=True)]),
    ("Records are kept for 6 years.", []),  # no currency, no amount
    ("spend that exceeds £500", [Interval("GBP", 500.0, math.inf, low_open=True)]),
    ("not less than £500", [Interval("GBP", 500.0, math.inf)]),  # not 'less than £500'
    ("not exceeding £500", [Interval("GBP", 0.0, 500.0)]),  # not 'exceeding £500'
    ("Up to and including £500", [Interval("GBP", 0.0, 500.0)]),
    ("insurance cover £5mn", [Interval("GBP", 5_000_000.0, 5_000_000.0)]),  # 'cover' holds no 'over'
    ("claims of £50 and £100", [Interval("GBP", 50.0, 50.0), Interval("GBP", 100.0, 100.0)]),  # two amounts, no range
    ("more than £0 and up to £500", [Interval("GBP", 0.0, 500.0, low_open=True)]),
    ("a bottle of wine worth about 80 quid", [Interval("GBP", 80.0, 80.0)]),  # the currency as people type it
    ("what if it's under 20 quid?", [Interval("GBP", 0.0, 20.0, high_open=True)]),
    ("2,000 euros or more", [Interval("EUR", 2000.0, math.inf)]),
    ("between 10 pounds and 20 pounds", [Interval("GBP", 10.0, 20.0)]),
    ("a 2 million dollar contract", [Interval("USD", 2_000_000.0, 2_000_000.0)]),
    ("a 5k sponsorship, 40 people", []),  # numbers with no currency are no amounts
])
def test_amounts_and_ranges_are_read_with_their_bounds(text, expected):
    assert intervals(text) == expected


def test_a_range_holds_an_amount_only_within_its_bounds_and_currency():
    claim = intervals("a claim of £1,200")
    assert holds_amount(claim, intervals("£500.01 to £2,500"))
    assert not holds_amount(claim, intervals("Up to £500"))
    assert not holds_amount(claim, intervals("€500.01 to €2,500"))  # another currency is never converted
    assert not holds_amount(claim, intervals("a claim of £1,200"))  # a bare amount is not a range
    above = intervals("a gift worth more than £500")
    assert holds_amount(above, intervals("More than £500"))
    assert not holds_amount(above, intervals("More than £150 and up to £500"))  # open at 500 meets closed at 500: no


@pytest.mark.parametrize("question, context, expected", [
    ("what if its more than that, like 300?", "a gift worth about 100 quid, can i keep it?", [Interval("GBP", 300.0, 300.0)]),
    ("and 5k?", "who signs off a claim of €1,200?", [Interval("EUR", 5000.0, 5000.0)]),
    ("what about €40?", "a gift worth £100", [Interval("EUR", 40.0, 40.0)]),  # its own currency wins
    ("and if it's over 20 nights?", "a hotel at £140 a night", []),  # a number with a unit is no amount
    ("was it different in 2021?", "a gift worth £100", []),  # nor is a year
    ("and 300?", "how many days of leave", []),  # no currency in the conversation: no amount
])
def test_a_follow_up_names_amounts_in_the_conversation_s_currency(question, context, expected):
    from rag.search.amounts import follow_up_intervals

    assert follow_up_intervals(question, context) == expected


@pytest.mark.parametrize("question, expected", [
    ("who signs off a 5k sponsorship", [Interval("GBP", 5000.0, 5000.0)]),  # thousands with no currency: the build's
    ("is a 2.5K laptop over my limit", [Interval("GBP", 2500.0, 2500.0)]),
    ("can i take 5 grand in cash", [Interval("GBP", 5000.0, 5000.0)]),
    ("over $300 who approves", [Interval("USD", 300.0, math.inf, low_open=True)]),  # its own currency wins
    ("mileage rate once i've done 10k miles", []),  # a distance
    ("who organises the charity 5k run", []),  # a race
    ("how does the 401k match work", []),  # a pension plan
    ("a gift worth 300, ok?", []),  # a bare number without thousands stays unread on a first question
])
def test_thousands_typed_without_a_currency_are_read_in_the_build_s(question, expected):
    from rag.search.amounts import question_intervals

    assert question_intervals(question, "GBP") == expected
    assert question_intervals(question, None) == [i for i in expected if "$" in question]  # no build currency: unread


def test_a_build_s_currency_is_the_one_nearly_all_its_amounts_are_in():
    from rag.search.amounts import follow_up_intervals, main_currency

    assert main_currency(["Claims up to £500", "More than £150 and up to £500", "£40 a night", "£25 lunch", "a €20 fee"]) == "GBP"
    assert main_currency(["£500", "€500"]) is None and main_currency(["no amounts here"]) is None  # mixed, or none
    assert follow_up_intervals("and a 5k one?", "who approves sponsorship?", "EUR") == [Interval("EUR", 5000.0, 5000.0)]
    assert follow_up_intervals("and 5k?", "a claim of $1,200", "EUR") == [Interval("USD", 5000.0, 5000.0)]  # the talk's
