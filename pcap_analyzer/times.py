"""Times as pcapan writes them: ISO 8601 in UTC with a ``Z``, to the precision the capture has.

Every writer (csv, json, markdown, the terminal table) and the capture facts
write a time with :func:`time_texts` or :func:`time_text`, so that one frame's
time reads the same everywhere.  A time column's unit says its precision:
microseconds (or coarser) are written with six decimals, nanoseconds with
nine.  The tables hold nanoseconds; :func:`at_capture_precision` turns the
times of a capture that only has microseconds (classic pcap, pcapng's
default resolution) into microseconds before they are written, so that a
capture never shows digits its clock did not give.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .capture.info import CaptureInfo

# the decimals written for a unit
_DIGITS = {"s": 6, "ms": 6, "us": 6, "ns": 9}


def digits_of(unit: str) -> int:
    """Decimals of a second written for times counted in *unit* ("s", "ms", "us", "ns")."""
    return _DIGITS.get(unit, 9)


def time_texts(values) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS.ffffff[fff]Z`` of each time of *values* (a datetime Series, array or
    index; naive times are taken as UTC), None where a time is missing: an object array."""
    return time_text_array(values).to_numpy(zero_copy_only=False)


def time_text_array(values):
    """:func:`time_texts` as an arrow array of large strings (null where a time is missing)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    stamps = pd.DatetimeIndex(values)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    unit = np.datetime_data(stamps.dtype)[0]
    if unit not in ("us", "ns"):
        stamps = stamps.as_unit("us")
    ticks = pa.array(stamps.asi8, type=pa.timestamp(stamps.unit), mask=np.asarray(stamps.isna()))
    # arrow writes "YYYY-MM-DD HH:MM:SS.ffffff", as many decimals as the unit has
    text = pc.replace_substring(pc.cast(ticks, pa.large_string()), " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(text, pa.scalar("Z", pa.large_string()), pa.scalar("", pa.large_string()))


def time_text(value, unit: str | None = None) -> str | None:
    """:func:`time_texts` of one time (a ``pd.Timestamp``); *unit* overrides its own unit."""
    import pandas as pd

    if value is None or value is pd.NaT or not isinstance(value, pd.Timestamp):
        return None
    if unit is not None:
        value = value.as_unit(unit)
    return time_texts(pd.DatetimeIndex([value]))[0]


def at_capture_precision(df: pd.DataFrame, info: CaptureInfo) -> pd.DataFrame:
    """*df* with its time columns in the unit of the capture's clock (nanoseconds are kept only when
    the capture has them)."""
    import pandas as pd

    unit = info.time_unit
    if unit == "ns":
        return df
    changed = {c: df[c].dt.as_unit(unit) for c in df.columns
               if isinstance(df[c].dtype, pd.DatetimeTZDtype) and df[c].dtype.unit == "ns"}
    return df.assign(**changed) if changed else df
