"""The grade sheet: one flat row per submission, in a fixed column order, safe to open in a spreadsheet."""
from __future__ import annotations

import math

from .rubric import ITEM_KEYS

# The row of a submission (pcapan check -f csv, and a folder's sheet): these columns, in this order.
SUMMARY_COLUMNS = (
    ["file", "overall", "score", "error", "warnings", "copy_of", "stream", "client", "client_port", "server",
     "server_port"]
    + list(ITEM_KEYS)
    + ["client_isn", "server_isn", "syn_frame", "syn_ack_seq", "syn_ack_ack", "handshake_frames", "sack_permitted",
       "first_segments_rel_seq", "first_segments_len", "first_segments_with_header", "first_segments_sent_s",
       "first_segments_ack_s", "sample_rtts_s", "estimated_rtts_s", "estimated_rtt_s", "min_receiver_window",
       "receiver_throttled", "retransmitted_segments", "fast_retransmissions", "recovery_retransmissions",
       "timeout_retransmissions", "duplicate_ack_count", "typical_acked_bytes", "typical_acked_segments",
       "delayed_ack", "throughput_bytes_per_s"]
)

# A text cell starting with one of these is run as a formula by spreadsheets (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def summary_row(values: dict) -> dict:
    """*values* in :data:`SUMMARY_COLUMNS` order, missing ones empty."""
    return {col: values.get(col, "") for col in SUMMARY_COLUMNS}


def error_row(file: str, message: str) -> dict:
    """The row of a submission that could not be graded."""
    return summary_row({"file": file, "overall": "error", "error": message, "warnings": []})


def neutralise(value):
    """*value* as a spreadsheet shows it without running it: a text starting like a formula gets a
    leading apostrophe (OWASP's advice for CSV injection); numbers, and texts that are numbers, stay."""
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        if math.isfinite(float(value)):
            return value
    except ValueError:
        pass
    return "'" + value


def safe_rows(rows):
    """Every cell of *rows* (dicts) through :func:`neutralise`."""
    return [{k: neutralise(v) for k, v in row.items()} for row in rows]
