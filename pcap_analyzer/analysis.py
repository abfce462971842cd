"""The pipeline, one line per step, and the :class:`Analysis` it returns.

:func:`analyze` runs the compiled engine (:mod:`.engine`, :mod:`.results`)
when it is built; :func:`analyze_readably` is the readable pipeline, one
line per step, that the engine is tested against.  The modules with pandas
are imported inside the functions: :func:`analyze` starts reading the
capture on the engine's thread while they load.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from . import reader

if TYPE_CHECKING:
    import pandas as pd

_FLAG_NAMES = (  # Wireshark's order of the flag bits in its summary line
    (0x01, "FIN"), (0x02, "SYN"), (0x04, "RST"), (0x08, "PSH"),
    (0x10, "ACK"), (0x20, "URG"), (0x40, "ECE"), (0x80, "CWR"), (0x100, "NS"),
)


@dataclass
class Analysis:
    """Everything pcapan learned from one capture."""

    info: reader.CaptureInfo
    packets: pd.DataFrame
    streams: pd.DataFrame

    @property
    def events(self) -> pd.DataFrame:
        """One row per (frame, label) for every labelled frame; ``label`` is a category."""
        # Imported here: the report and export modules import this one.
        from . import schema
        from .export import EVENT_COLUMNS
        from .report.documents import events_table

        events = schema.conform(events_table(self.packets), EVENT_COLUMNS)
        # Categories are the values present, as in the other tables (not every
        # protocol of the capture, only those with labelled frames).
        events["proto"] = events["proto"].cat.remove_unused_categories()
        return events

    def to_parquet(self, directory: str | os.PathLike) -> list:
        """Write packets, streams and events as parquet files into *directory*; return their paths."""
        from .export import write_tables

        return write_tables(self, directory, "parquet")

    def to_csv(self, directory: str | os.PathLike) -> list:
        """Write packets, streams and events as CSV files into *directory*; return their paths."""
        from .export import write_tables

        return write_tables(self, directory, "csv")

    def summary(self) -> dict:
        """Capture facts as a plain dict (what ``pcapan report`` shows first)."""
        p = self.packets
        return capture_facts(self.info, frame_counts(p), self.streams,
                             p["time"].iloc[0] if len(p) else None,
                             float(p["time_rel_s"].iloc[-1]) if len(p) else 0.0)


def frame_counts(p: pd.DataFrame) -> dict:
    """Frames per protocol and frames cut short, in one table of frames (they add up over chunks)."""
    from .schema import coded, texts

    proto = texts(p["proto"])
    # few distinct label sets: each is looked at once
    codes, sets = coded(p["labels"])
    cut = np.array(["truncated" in str(v).split(";") for v in sets] + [False])
    return {
        "packets": int(len(p)),
        "tcp_packets": int(np.count_nonzero(proto == "tcp")),
        "udp_packets": int(np.count_nonzero(proto == "udp")),
        "truncated_frames": int(np.count_nonzero(cut[codes])),
        "malformed_frames": int(p["malformed"].notna().sum()),
    }


def capture_facts(info: reader.CaptureInfo, counts: dict, streams: pd.DataFrame, first_time,
                  duration_s: float) -> dict:
    """The capture facts of a report from the frame counts and the streams table."""
    return {
        "file": os.path.basename(info.path),
        "format": info.file_format + (" (gzip)" if info.compressed else ""),
        "link_types": sorted({reader.linktype_name(v) for v in info.linktypes.values()}),
        "packets": counts["packets"],
        "tcp_packets": counts["tcp_packets"],
        "udp_packets": counts["udp_packets"],
        "tcp_streams": int((streams["proto"] == "tcp").sum()) if len(streams) else 0,
        "udp_streams": int((streams["proto"] == "udp").sum()) if len(streams) else 0,
        "first_time": first_time.isoformat() if first_time is not None else None,
        "duration_s": duration_s,
        "truncated_frames": counts["truncated_frames"],
        "malformed_frames": counts["malformed_frames"],
        "warnings": list(info.warnings),
    }


def _flag_names(value: int) -> str:
    return ",".join(name for bit, name in _FLAG_NAMES if value & bit)


# Every combination of the nine flag bits, spelled once.
_FLAG_TEXT = np.array([_flag_names(v) for v in range(512)], dtype=object)


def flag_text(flags: pd.Series) -> pd.Series:
    """The ``flags`` column: TCP flag names in Wireshark's order, comma-joined (missing where not TCP)."""
    import pandas as pd

    f = flags.fillna(0).astype(np.int64).to_numpy() & 0x1FF
    return pd.Series(np.where(flags.notna().to_numpy(), _FLAG_TEXT[f], None), index=flags.index, dtype=object)


def _finish_packets(p: pd.DataFrame) -> pd.DataFrame:
    """Derived display columns; times are relative to the first frame's."""
    import pandas as pd

    p = p.copy(deep=False)   # new columns only; copy-on-write keeps the caller's table intact
    p["time"] = pd.to_datetime(p["ts_ns"], unit="ns", utc=True)
    first_ts_ns = p["ts_ns"].iloc[0] if len(p) else 0
    p["time_rel_s"] = (p["ts_ns"] - first_ts_ns) / 1e9
    names = {v: reader.linktype_name(int(v)) for v in p["linktype_id"].unique()}
    p["linktype"] = p["linktype_id"].map(names).astype("category")
    p["flags"] = flag_text(p["tcp_flags"])
    return p


def label_frames(packets: pd.DataFrame, step: Callable[[str], None] = lambda message: None) -> pd.DataFrame:
    """Streams, client/server, the rules' labels and the display columns of a capture's table of frames."""
    from . import rules, streams, summary

    step(f"numbering the streams of {len(packets):,} frames")
    packets = streams.assign(packets)
    packets = streams.roles(packets, summary.service_name)
    step("analysing TCP")
    packets = rules.apply(packets, rules.REGISTRY)
    return _finish_packets(packets)


def analyze(path: str | os.PathLike, progress: Callable[[str], None] | None = None) -> Analysis:
    """Read and analyse the capture at *path*.

    *progress*, if given, is called with a short description of each step
    as it starts (for a status line on long runs).

    Raises :class:`pcap_analyzer.reader.CaptureError` when the file is not a
    capture; damage inside a capture becomes warnings and labels instead.

    The compiled engine does the work when it is built (:mod:`.engine`);
    otherwise, and as the tests' reference, the readable pipeline of
    :func:`analyze_readably` does, with the same result.
    """
    from . import engine

    if not engine.available():
        return analyze_readably(path, progress)
    reads = engine.Background(lambda: engine.analysed(path, progress=progress, collect=True))
    from . import results  # pandas and the tables' code load meanwhile

    return results.analysis_of(*reads.result(), progress=progress)


def analyze_readably(path: str | os.PathLike, progress: Callable[[str], None] | None = None) -> Analysis:
    """:func:`analyze` by the readable pipeline: a table of all frames, then each step over it."""
    from . import decode, explain, schema, summary

    step = progress or (lambda message: None)
    info = reader.CaptureInfo(path=os.fspath(path))
    step("reading frames")
    packets = decode.build_table(reader.read_frames(path, info), lambda n: step(f"reading frames ({n:,} so far)"))
    packets = label_frames(packets, step=step)
    packets = packets.assign(explain=explain.explain(packets))
    step("summarising streams")
    stream_df = summary.stream_table(packets)
    return Analysis(
        info=info,
        packets=schema.conform(packets, schema.PACKET_COLUMNS),
        streams=schema.conform(stream_df, schema.STREAM_COLUMNS),
    )
