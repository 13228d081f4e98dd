"""The tests' own comparison of reports across runs: exact text, numbers within a tolerance."""

from __future__ import annotations

from same import same_text


def test_reports_compare_their_numbers_within_a_tolerance():
    assert same_text("max abs error 1.85; expected 0.281691", "max abs error 1.85; expected 0.2816910000001")
    assert not same_text("max abs error 1.85", "max abs error 1.86")
    assert not same_text("transpose of", "sign of")
    assert same_text("a,1e-17,b", "a,-3e-17,b")  # both 0 up to rounding
