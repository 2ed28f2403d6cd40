"""Store selections (`key=value,...`) read back exactly what they say, and bad ones are one line."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelbench.errors import UserError
from accelbench.history.queries import SELECTION_KEYS, Selection, parse_selection

words = st.text("abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=20)
selections = st.builds(
    Selection, system=st.none() | words, workload=st.none() | words, scale=st.none() | st.sampled_from(["smoke", "small"]),
    division=st.none() | st.sampled_from(["closed", "open", "benchmark"]),
    commit=st.none() | st.text("0123456789abcdef", min_size=4, max_size=40),
    batch=st.none() | st.sampled_from(["last", "accepted", "1", "42"]), since=st.none() | st.dates(), until=st.none() | st.dates(),
)


@given(selections.filter(lambda s: s.text()))
def test_a_selection_round_trips_through_its_text(selection):
    assert parse_selection(selection.text()) == selection


@given(st.text(max_size=40))
def test_any_text_is_a_selection_or_one_line_that_names_the_keys(text):
    try:
        parse_selection(text)
    except UserError as err:
        assert "\n" not in str(err) and "selection" in str(err)


@pytest.mark.parametrize("text, says", [
    ("", "is empty"), ("colour=red", ", ".join(SELECTION_KEYS)), ("commit", "not key=value"),
    ("scale=smoke,scale=small", "given twice"), ("import=first", "an import number, last or accepted"),
    ("system=a b", "letters, digits"), ("since=12/01/2026", "not a date"),
])
def test_bad_selections_say_what_is_wrong(text, says):
    with pytest.raises(UserError, match=says.replace("[", r"\[")):
        parse_selection(text)
