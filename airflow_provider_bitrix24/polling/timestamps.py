"""Time values of the portal: parsed as aware datetimes, written in the form list filters accept."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any


def parse_timestamp(value: Any) -> datetime | None:
    """A portal or user time value as an aware datetime (naive values are taken as UTC)."""
    if value in (None, "", False):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip().replace(" ", "T", 1)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def format_timestamp(value: Any) -> str:
    """A time value in the ISO 8601 form Bitrix24 filters accept (``2026-01-31T09:00:00+00:00``)."""
    parsed = parse_timestamp(value)
    if parsed is None:
        raise ValueError(f"not a time value: {value!r}")
    return parsed.replace(microsecond=0).isoformat()


def epoch_second(value: Any) -> int | None:
    """Whole epoch seconds of a portal time value (``None`` when absent or unreadable)."""
    try:
        parsed = parse_timestamp(value)
    except (TypeError, ValueError):
        return None
    return None if parsed is None else int(parsed.timestamp())


def iso_second(second: int) -> str:
    """Epoch seconds as an ISO 8601 UTC time value."""
    return datetime.fromtimestamp(second, timezone.utc).isoformat()
