"""klcourse.check: verdicts, hints that never reveal the answer, bookkeeping."""

import math

import pytest

import klcourse as kc
from klcourse.hints import close


def test_close_accepts_and_describes_mistakes():
    assert close(0.3494, 0.349397) is None
    assert "too large" in close(0.5, 0.349397)
    assert "too small" in close(0.1, 0.349397)
    assert "bits" in close(0.349397 / math.log(2), 0.349397)
    assert "nats" in close(0.349397 * math.log(2), 0.349397)
    assert "wrong sign" in close(-0.349397, 0.349397)
    assert "shape" in close([1.0, 2.0], 1.0)
    assert "NaN" in close(float("nan"), 1.0)
    assert "should be a number" in close("0.35", 0.35)


def test_hints_never_contain_the_expected_value():
    expected = 0.349397
    for wrong in (0.5, 0.1, -expected, expected / math.log(2), [1.0, 2.0], float("nan")):
        hint = close(wrong, expected)
        assert hint is not None
        for shown in ("0.349", "0.35", "0.3494"):
            assert shown not in hint


def test_exercise_prints_and_records(capsys):
    kc.check.reset()
    ids = [e.id for e in kc.check.exercises()]
    assert ids, "no exercises registered"
    kc.check.exercise(ids[0], ...)
    assert "not answered yet" in capsys.readouterr().out
    assert kc.check.results() == {ids[0]: False}


def test_unknown_id_lists_known_ones():
    with pytest.raises(KeyError, match="no exercise 'nope'"):
        kc.check.exercise("nope", 1)


def test_register_refuses_duplicates():
    @kc.check.register("test-only-duplicate", chapter=0, topic="test")
    def checker(answer):
        return None

    try:
        with pytest.raises(ValueError, match="registered twice"):
            kc.check.register("test-only-duplicate", chapter=0, topic="test")(checker)
    finally:  # the registry is global: leave it as the course defines it
        kc.check._REGISTRY.pop("test-only-duplicate")


def test_glue_stores_numpy_scalars_as_plain_numbers():
    # Regression: NumPy 2 reprs np.float64 as "np.float64(...)", which the book's
    # `{glue:text}` formatting cannot parse.
    from unittest import mock

    import numpy as np

    # Without myst-nb (plain Colab) kc.glue writes the bundle itself: check that path.
    with (
        mock.patch.dict("sys.modules", {"myst_nb": None}),
        mock.patch("IPython.display.display") as display,
    ):
        assert kc.glue("x", np.float64(0.25)) is None  # nothing echoed as a cell's value
        kc.glue("y", np.float32(0.5))
    bundles = [call.args[0] for call in display.call_args_list]
    assert [b["application/papermill.record/text/plain"] for b in bundles] == ["0.25", "0.5"]
