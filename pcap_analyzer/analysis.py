"""``analyze()``: a capture read, decoded and analysed, as tables -- and the :class:`Analysis` it returns.

The steps, one line each in :func:`analyze`:

1. read the capture once, framing its packets (:mod:`.capture`);
2. decode each frame, link layer to TCP/UDP (:mod:`.capture._decode`);
3. flows, sequence analysis and per-stream facts, frame by frame
   (:mod:`.tcp`), all compiled, on a thread while pandas loads;
4. settle what only the end of the capture decides (:mod:`.pipeline`);
5. make the packets and streams tables (:mod:`.tables`) and explain every
   frame in a sentence (:mod:`.explain`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .capture.info import CaptureInfo, linktype_name
from .pipeline import Background, Progress, Run
from .vocabulary import DEFAULT_WIRESHARK

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Analysis:
    """Everything pcapan learned from one capture."""

    info: CaptureInfo
    packets: pd.DataFrame
    streams: pd.DataFrame
    # the Wireshark release whose rules the labels follow (vocabulary.WIRESHARK_VERSIONS)
    wireshark: str = DEFAULT_WIRESHARK

    @property
    def events(self) -> pd.DataFrame:
        """One row per (frame, label) for every labelled frame; ``label`` is a category."""
        from .tables import events_table

        return events_table(self.packets)

    def summary(self) -> dict:
        """Capture facts as a plain dict (what ``pcapan report`` shows first)."""
        p = self.packets
        return capture_facts(self.info, frame_counts(p), self.streams,
                             p["time"].iloc[0] if len(p) else None,
                             float(p["time_rel_s"].iloc[-1]) if len(p) else 0.0, self.wireshark)


def frame_counts(p: pd.DataFrame) -> dict:
    """Frames per protocol and frames cut short, in one table of frames (they add up over chunks)."""
    import numpy as np

    from .schema import coded

    proto_codes, protos = coded(p["proto"])
    codes, sets = coded(p["labels"])
    cut = np.array(["truncated" in str(v).split(";") for v in sets] + [False])
    return {
        "packets": int(len(p)),
        "tcp_packets": int(np.count_nonzero(proto_codes == protos.index("tcp"))) if "tcp" in protos else 0,
        "udp_packets": int(np.count_nonzero(proto_codes == protos.index("udp"))) if "udp" in protos else 0,
        "truncated_frames": int(np.count_nonzero(cut[codes])),
        "malformed_frames": int(p["malformed"].notna().sum()),
    }


def capture_facts(info: CaptureInfo, counts: dict, streams: pd.DataFrame, first_time,
                  duration_s: float, wireshark: str | None = None) -> dict:
    """The capture facts of a report from the frame counts and the streams table; *wireshark* is the
    release whose labels the analysis follows (None: the one in force, see vocabulary.wireshark_version)."""
    from .vocabulary import wireshark_version

    from .times import time_text

    return {
        "file": info.name,
        "format": info.file_format + (" (gzip)" if info.compressed else ""),
        "link_types": sorted({linktype_name(v) for v in info.linktypes.values()}),
        "packets": counts["packets"],
        "tcp_packets": counts["tcp_packets"],
        "udp_packets": counts["udp_packets"],
        "tcp_streams": int((streams["proto"] == "tcp").sum()) if len(streams) else 0,
        "udp_streams": int((streams["proto"] == "udp").sum()) if len(streams) else 0,
        # (a time beyond what a date can show is missing)
        "first_time": time_text(first_time, info.time_unit),
        "duration_s": duration_s,
        "truncated_frames": counts["truncated_frames"],
        "malformed_frames": counts["malformed_frames"],
        "warnings": list(info.warnings),
        "wireshark": wireshark_version(wireshark),
    }


def analyze(path: str | os.PathLike, progress: Callable[[Progress], None] | None = None,
            wireshark: str | None = None) -> Analysis:
    """Read and analyse the capture at *path* (``-``: standard input), in one read.

    *progress*, if given, is called with a :class:`.pipeline.Progress` as
    each step starts and after each chunk of frames read (for a progress
    bar on long runs; ``str()`` of it is a short description).  Raises
    :class:`pcap_analyzer.CaptureError` when the file is not a capture;
    damage inside a capture becomes warnings and labels instead.

    *wireshark* ("4.6", "4.4" or "4.0") is the Wireshark release whose
    rules the labels follow where releases differ; by default the
    ``PCAPAN_WIRESHARK`` environment variable's, else 4.6.  Any other
    value raises :class:`pcap_analyzer.vocabulary.UnknownWireshark` (a
    ``ValueError``) naming the known ones.
    """
    step = progress or (lambda state: None)
    run = Run(path, wireshark=wireshark)
    # a display follows a mapped file's bytes (collect counts its frames on the reading thread)
    step(run.progress("reading frames"))
    frames = Background(lambda: run.collect(lambda n: step(run.progress("reading frames"))))
    from . import accessor, explain, schema, tables  # noqa: F401  (pandas and the tables' code load meanwhile;
    #                                                   importing accessor registers DataFrame.pcapan)

    c = frames.result()
    ending = run.ending()
    ending.settle(c)
    step(run.progress("making the tables"))
    packets = tables.packets_table(c, ending, run.info, run.first_ts)
    packets["explain"] = explain.explain(packets)
    return Analysis(info=run.info, packets=schema.conform(packets, schema.PACKET_COLUMNS),
                    streams=tables.streams_table(run, ending), wireshark=run.wireshark)


def stream_frames(path: str | os.PathLike, proto: str, stream,
                  progress: Callable[[Progress], None] | None = None, wireshark: str | None = None) -> pd.DataFrame:
    """Every frame of one stream (or of a list of streams) of the capture at *path*, as :func:`analyze`'s
    packets table has them (``explain`` included), read with only those streams' frames kept; *progress*
    and *wireshark* as for :func:`analyze`."""
    import numpy as np

    from . import explain, schema, tables
    from .pipeline import IN, OUT, concat
    from .vocabulary import PROTOS

    code = PROTOS.index(proto)
    one = isinstance(stream, (int, np.integer))
    wanted = np.array([stream] if one else sorted(stream), dtype=np.int64)
    # one stream is analysed alone (past the numbering of every stream); several with all the others
    run = Run(path, only=(1 if proto == "tcp" else 2, int(stream)) if one else None, wireshark=wireshark)
    step = progress or (lambda state: None)
    what = f"reading {proto.upper()} stream {stream}" if one else f"reading {len(wanted)} {proto.upper()} streams"
    step(run.progress(what))
    parts = []
    for c in run.chunks(reuse=1, progress=lambda n: step(run.progress(what))):
        at = np.flatnonzero((c.inp[IN["proto"]] == code) & np.isin(c.out[OUT["stream"]], wanted))
        if len(at):
            comments = {j: c.comments[r] for j, r in enumerate(at.tolist()) if r in c.comments}
            parts.append(type(c)(c.inp[:, at], c.out[:, at], c.times[:, at], comments))
    ending = run.ending()
    frames = ending.settle(concat(parts))
    packets = tables.packets_table(frames, ending, run.info, run.first_ts)
    # a RST's sentence looks at whether its stream had a SYN-ACK: this stream's facts say it
    packets["explain"] = explain.explain(packets, accepted=tables.accepted_streams(run))
    return schema.conform(packets, schema.PACKET_COLUMNS)
