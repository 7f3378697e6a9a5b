"""OSC timetags (64-bit NTP: seconds since 1900 and a 32-bit fraction) <-> unix seconds.

python-osc converts with float arithmetic on the NTP-epoch value (`system_time_to_ntp`): at
today's ~3.9e9 NTP seconds a double resolves only ~0.5 µs, so a round trip drifts by a few hundred
nanoseconds. These conversions are exact instead: the float's exact value is scaled with
`Fraction` and rounded once to the nearest 1/2**32 s, and back to the nearest float.
"""

from __future__ import annotations

from fractions import Fraction

IMMEDIATELY: int = 1
"""The reserved timetag meaning "now" (63 zero bits then a one)."""

NTP_UNIX_OFFSET: int = 2_208_988_800
"""Seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (unix epoch): 70 years with 17 leap days."""

_FRACTION = 2**32
_MAX = 2**64 - 1


def unix_to_ntp(t: float) -> int:
    """The 64-bit NTP timetag nearest to unix time `t` (seconds).

    Raises ValueError for a time that is not finite or outside the NTP era 0 (1900..2036);
    the values 0 and 1 are reserved by OSC and are refused too.
    """
    try:
        exact = Fraction(t)
    except (ValueError, OverflowError, TypeError) as e:
        raise ValueError(f"not a finite time: {t!r}") from e
    ntp_value = round((exact + NTP_UNIX_OFFSET) * _FRACTION)
    if not 1 < ntp_value <= _MAX:
        raise ValueError(f"unix time {t!r} is outside the NTP timetag range")
    return ntp_value


def ntp_to_unix(ntp_value: int) -> float:
    """Unix time (seconds, nearest float) of a 64-bit NTP timetag."""
    if not 0 <= ntp_value <= _MAX:
        raise ValueError(f"not a 64-bit NTP timetag: {ntp_value!r}")
    return float(Fraction(ntp_value, _FRACTION) - NTP_UNIX_OFFSET)
