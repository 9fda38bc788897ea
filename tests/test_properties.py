"""Property tests: the valid-listen rule, snowflakes, timestamps, guildIds and JSON bodies."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from service.bodies import MAX_JSON_DEPTH, decode_json
from service.errors import InvalidInput
from service.parsing import (
    MAX_CLOCK_SKEW,
    MAX_GUILD_ID_ITEMS,
    MAX_GUILD_IDS,
    MAX_SNOWFLAKE,
    parse_guild_ids,
    parse_snowflake,
    parse_timestamp,
)
from service.rules import STREAM_DURATION_MS, ListenRule
from service.timestamps import format_rfc3339, truncate_to_ms

# The validity rule


def expected_valid_listen(min_ms: int, basis_points: int, duration_ms: int, played_ms: int) -> bool:
    """Restate the rule in integers, with the fraction in basis points (ten-thousandths).

    A play of a known duration counts when it reaches min_ms or the fraction of the duration,
    whichever is less, and the track is at least min_ms long. Live streams and unknown
    durations count after min_ms.
    """
    if duration_ms in (0, STREAM_DURATION_MS):
        return played_ms >= min_ms
    if duration_ms < min_ms:
        return False
    return played_ms >= min_ms or played_ms * 10_000 >= basis_points * duration_ms


min_listen_ms = st.integers(min_value=0, max_value=10 * 60_000)
basis_points = st.integers(min_value=0, max_value=10_000)
durations = st.one_of(
    st.sampled_from([0, STREAM_DURATION_MS]),
    st.integers(min_value=1, max_value=10 * 3_600_000),
    # Multiples of 10 000 make the fraction's threshold a whole number that a play can hit exactly.
    st.integers(min_value=1, max_value=3_600).map(lambda tens: tens * 10_000),
    st.integers(min_value=1, max_value=STREAM_DURATION_MS - 1),
)


@st.composite
def plays(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """Draw a rule and a play, with the played time often right at a threshold."""
    min_ms = draw(min_listen_ms)
    fraction = draw(basis_points)
    duration_ms = draw(durations)
    fraction_threshold = -(-fraction * duration_ms // 10_000)
    near = draw(st.sampled_from([min_ms, fraction_threshold, duration_ms]))
    played_ms = draw(
        st.one_of(
            st.integers(min_value=max(0, near - 2), max_value=near + 2),
            st.integers(min_value=0, max_value=STREAM_DURATION_MS),
        )
    )
    return min_ms, fraction, duration_ms, played_ms


@settings(max_examples=500)
@given(plays())
@example((30_000, 1_500, 100_000, 15_000))
@example((30_000, 1_000, 100_000, 10_000))
@example((30_000, 1_500, 100_000, 14_999))
@example((30_000, 1_500, 29_999, 29_999))
@example((30_000, 1_500, STREAM_DURATION_MS, 30_000))
@example((30_000, 1_500, 0, 29_999))
def test_listen_rule_matches_integer_rule(play: tuple[int, int, int, int]) -> None:
    min_ms, fraction, duration_ms, played_ms = play
    rule = ListenRule(min_ms, fraction / 10_000)

    assert rule.is_valid_listen(duration_ms, played_ms) == expected_valid_listen(
        min_ms, fraction, duration_ms, played_ms
    )


@given(plays())
def test_listen_rule_is_monotonic_in_played_time(play: tuple[int, int, int, int]) -> None:
    min_ms, fraction, duration_ms, played_ms = play
    rule = ListenRule(min_ms, fraction / 10_000)

    if rule.is_valid_listen(duration_ms, played_ms):
        assert rule.is_valid_listen(duration_ms, played_ms + 1)


@given(plays())
def test_stored_played_time_never_exceeds_duration(play: tuple[int, int, int, int]) -> None:
    min_ms, fraction, duration_ms, played_ms = play
    rule = ListenRule(min_ms, fraction / 10_000)

    stored = rule.stored_played_ms(duration_ms, played_ms)

    if duration_ms in (0, STREAM_DURATION_MS):
        assert stored == played_ms
    else:
        assert stored == min(played_ms, duration_ms)


# Snowflakes

snowflakes = st.integers(min_value=1, max_value=MAX_SNOWFLAKE)


@given(snowflakes, st.integers(min_value=0, max_value=30))
def test_snowflake_round_trips(number: int, leading_zeros: int) -> None:
    assert parse_snowflake(number, "id") == number
    assert parse_snowflake(str(number), "id") == number
    assert parse_snowflake("0" * leading_zeros + str(number), "id") == number


@given(
    st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=MAX_SNOWFLAKE + 1),
        st.integers(min_value=MAX_SNOWFLAKE + 1).map(str),
        st.text(alphabet="0123456789", min_size=20, max_size=6000).filter(
            lambda text: text.lstrip("0") and len(text.lstrip("0")) > 19
        ),
        st.booleans(),
        st.floats(),
        st.none(),
        st.lists(snowflakes, max_size=2),
    )
)
def test_snowflake_rejects_out_of_range(value: object) -> None:
    with pytest.raises(InvalidInput):
        parse_snowflake(value, "id")


@given(st.text())
@example("\u0661\u0662")
@example("+1")
@example(" 1")
@example("1_000")
def test_snowflake_from_any_text(text: str) -> None:
    try:
        number = parse_snowflake(text, "id")
    except InvalidInput:
        return

    assert text.isascii()
    assert text.isdigit()
    assert number == int(text)
    assert 1 <= number <= MAX_SNOWFLAKE


# Timestamps

# Far enough ahead that every generated time is in the past, yet within datetime's range.
LATE_NOW = datetime(9999, 1, 1, tzinfo=UTC)
moments = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(moments)
def test_timestamp_round_trips_through_format(moment: datetime) -> None:
    text = format_rfc3339(moment)
    assert text is not None

    parsed = parse_timestamp(text, "t", now=LATE_NOW)

    assert parsed == truncate_to_ms(moment)
    assert format_rfc3339(parsed) == text


@given(moments, offsets, st.text(alphabet="0123456789", max_size=12))
def test_timestamp_truncates_never_rounds(moment: datetime, offset: timezone, extra: str) -> None:
    local = moment.astimezone(offset)
    text = local.replace(tzinfo=None).isoformat(timespec="microseconds") + extra
    text += local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]

    parsed = parse_timestamp(text, "t", now=LATE_NOW)

    assert parsed.tzinfo == UTC
    assert parsed <= moment
    assert moment - parsed < timedelta(milliseconds=1)
    assert parsed.microsecond % 1000 == 0


@given(st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3650)))
def test_timestamp_rejects_far_future(ahead: timedelta) -> None:
    now = datetime(2026, 1, 16, 10, 30, tzinfo=UTC)
    moment = now + MAX_CLOCK_SKEW + ahead
    text = format_rfc3339(moment)
    assume(text is not None and parse_timestamp(text, "t", now=LATE_NOW) > now + MAX_CLOCK_SKEW)

    with pytest.raises(InvalidInput):
        parse_timestamp(text, "t", now=now)


@given(
    st.one_of(
        st.text(), st.from_regex(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
    )
)
@example("0001-01-01T00:00:00-23:59")
@example("9999-12-31T23:59:59+00:00")
@example("2026-02-30T00:00:00Z")
@example("2026-01-01T24:00:00Z")
@example("\u0662\u0660\u0662\u0666-01-16T10:30:00Z")
def test_timestamp_from_any_text(text: str) -> None:
    try:
        parsed = parse_timestamp(text, "t", now=LATE_NOW)
    except InvalidInput as exc:
        if not text.isascii():
            assert "must be an RFC 3339 date-time" in exc.message
        return

    assert text.isascii()
    assert parsed.tzinfo == UTC
    assert parsed.microsecond % 1000 == 0


# guildIds


def guild_ids_query(raw: str) -> QueryParams:
    return QueryParams([("guildIds", raw)])


@st.composite
def guild_id_lists(draw: st.DrawFn) -> tuple[str, list[int]]:
    """Draw guild ids as a client might send them: padded, repeated, with empty items."""
    distinct = draw(st.lists(snowflakes, min_size=1, max_size=MAX_GUILD_IDS, unique=True))
    items = draw(
        st.lists(st.sampled_from(distinct), min_size=len(distinct), max_size=3 * len(distinct))
    )
    items = distinct + items
    padded = [
        draw(st.sampled_from(["", " ", "\t"])) + str(item) + draw(st.sampled_from(["", " "]))
        for item in items
    ]
    gaps = draw(st.lists(st.sampled_from(["", " "]), max_size=5))
    raw = ",".join(padded + gaps)
    assume(raw.count(",") + 1 <= MAX_GUILD_ID_ITEMS)
    return raw, distinct


@given(guild_id_lists())
def test_guild_ids_keep_first_seen_order(case: tuple[str, list[int]]) -> None:
    raw, distinct = case

    assert parse_guild_ids(guild_ids_query(raw)) == distinct


@given(st.lists(snowflakes, min_size=MAX_GUILD_IDS + 1, max_size=MAX_GUILD_IDS + 20, unique=True))
def test_guild_ids_reject_too_many_distinct(guild_ids: list[int]) -> None:
    with pytest.raises(InvalidInput):
        parse_guild_ids(guild_ids_query(",".join(map(str, guild_ids))))


@given(st.integers(min_value=MAX_GUILD_ID_ITEMS + 1, max_value=5 * MAX_GUILD_ID_ITEMS), snowflakes)
def test_guild_ids_reject_too_many_items(count: int, guild_id: int) -> None:
    with pytest.raises(InvalidInput):
        parse_guild_ids(guild_ids_query(",".join([str(guild_id)] * count)))


@given(st.text(alphabet=st.sampled_from("0123456789, \t-+x\x00\u0661"), max_size=200) | st.text())
def test_guild_ids_from_any_text(raw: str) -> None:
    try:
        guild_ids = parse_guild_ids(guild_ids_query(raw))
    except InvalidInput:
        return

    assert 1 <= len(guild_ids) <= MAX_GUILD_IDS
    assert len(set(guild_ids)) == len(guild_ids)
    assert all(1 <= guild_id <= MAX_SNOWFLAKE for guild_id in guild_ids)


# JSON bodies

json_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=20
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_decode_json_round_trips(value: object) -> None:
    assert decode_json(json.dumps(value).encode()) == value


@given(st.binary(max_size=300) | json_values.map(lambda value: json.dumps(value).encode()[:-1]))
@example(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
@example(b'"\\ud800"')
@example(b"1" * 5000)
def test_decode_json_from_any_bytes(body: bytes) -> None:
    # Any other exception would become a 500.
    with contextlib.suppress(InvalidInput):
        decode_json(body)


@given(json_values, st.sampled_from(["\\u0000", "\\ud800", "\\udfff", "\\udc85\\ud83c"]))
def test_decode_json_rejects_bad_string_anywhere(value: object, escape: str) -> None:
    body = "[" + json.dumps(value) + ', {"key": "a' + escape + 'b"}]'

    with pytest.raises(InvalidInput):
        decode_json(body.encode())
