"""The grade sheet: one flat row per submission, in a fixed column order.

Written as CSV, its text cells (file names, warnings: partly chosen by
students) go through :mod:`pcap_analyzer.report.formulas` like every CSV
pcapan writes, so no cell runs as a formula in a spreadsheet.
"""
from __future__ import annotations

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


def summary_row(values: dict) -> dict:
    """*values* in :data:`SUMMARY_COLUMNS` order, missing ones empty."""
    return {col: values.get(col, "") for col in SUMMARY_COLUMNS}


def error_row(file: str, message: str) -> dict:
    """The row of a submission that could not be graded."""
    return summary_row({"file": file, "overall": "error", "error": message, "warnings": []})
