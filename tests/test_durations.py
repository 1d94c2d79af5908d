import pytest

from ivr.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (45, 45.0),
        ("45", 45.0),
        ("45s", 45.0),
        ("4m", 240.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1.5m", 90.0),
        ("250ms", 0.25),
        (" 2 m ", 120.0),
    ],
)
def test_parse_duration_accepts_what_designers_write(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "4 minutes", "-5s", "m", True, None, "4m x"])
def test_parse_duration_names_the_bad_value(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_format_duration_round_trips():
    for seconds in (0, 5, 90, 3600, 3725):
        assert parse_duration(format_duration(seconds)) == seconds
