"""Query results as JSON values: DuckDB hands back Decimals, dates, intervals, blobs and NaN."""

from __future__ import annotations

import datetime as dt
import decimal
import math


def jsonable(value):
    """A JSON-serialisable copy of `value` (NaN/inf become null)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
