from datetime import date

import pytest

from trading_pipeline.domain.walk_forward import Window, best_by_sharpe, windows


def test_windows_roll_forward_by_the_test_length():
    assert windows(date(2012, 1, 1), date(2012, 12, 31), train_months=6, test_months=3) == [
        Window(date(2012, 1, 1), date(2012, 6, 30), date(2012, 7, 1), date(2012, 9, 30)),
        Window(date(2012, 4, 1), date(2012, 9, 30), date(2012, 10, 1), date(2012, 12, 31)),
    ]
    # A test window that would run past the end is dropped, not truncated.
    assert len(windows(date(2012, 1, 1), date(2012, 12, 30), 6, 3)) == 1
    # Month ends: a window starting on the 31st keeps its length.
    [w] = windows(date(2012, 1, 31), date(2012, 4, 29), 2, 1)
    assert (w.train_end, w.test_start, w.test_end) == (date(2012, 3, 30), date(2012, 3, 31), date(2012, 4, 29))


def test_windows_refuse_ranges_too_short_or_bad_lengths():
    with pytest.raises(ValueError, match="shorter than one train window"):
        windows(date(2012, 1, 1), date(2012, 3, 31), 3, 1)
    with pytest.raises(ValueError, match="at least 1"):
        windows(date(2012, 1, 1), date(2013, 1, 1), 0, 1)
    with pytest.raises(ValueError, match="before start"):
        windows(date(2012, 1, 1), date(2011, 1, 1), 1, 1)


def test_best_by_sharpe_prefers_numbers_then_order():
    assert best_by_sharpe([("a", 0.5), ("b", 1.2), ("c", -3.0)]) == "b"
    assert best_by_sharpe([("a", 1.0), ("b", 1.0)]) == "a"  # tie: the earlier value
    assert best_by_sharpe([("a", None), ("b", -0.1), ("c", float("nan"))]) == "b"
    assert best_by_sharpe([("a", None), ("b", None)]) == "a"
    with pytest.raises(ValueError, match="no parameter values"):
        best_by_sharpe([])
