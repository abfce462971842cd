"""What a report shows of a capture, in memory bounded by its streams: the :class:`Digest`.

:func:`.analysis.analyze` keeps every frame's row (about 1.5 KiB each), which
is what ``packets`` and the notebook want.  A report needs much less: the
streams table, counts, the checksum verdicts and the labelled frames grouped
per label.  The compiled engine (:mod:`.engine`) reads the capture a chunk of
frames at a time and adds these up as it goes, carrying each stream's state
from one chunk to the next, so memory follows the streams, not the frames;
:mod:`.results` makes the tables of what it found.  Without the engine, the
digest is made of the readable pipeline's table of the whole capture
(:func:`.analysis.analyze_readably`), with the same result.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from . import analysis, engine, reader
from .report.documents import REPORT_LEAVES_OUT, EventDigest, checksum_facts, events_table

CHUNK_FRAMES = engine.CHUNK_FRAMES


@dataclass
class Digest:
    """What a report shows about one capture, without its frames."""

    info: reader.CaptureInfo
    streams: pd.DataFrame
    facts: dict
    checksums: dict
    notable: pd.DataFrame
    events: pd.DataFrame | None
    passes: int = 1
    # what the last read assumed about the whole capture, to read it again the same way:
    # (proto code, stream, client side) of streams whose client was decided at the end,
    # and the (version, high, low) addresses of senders that offload their checksums
    roles: tuple = ()
    offloaders: frozenset = field(default_factory=frozenset)

    def summary(self) -> dict:
        return self.facts


def digest(path: str | os.PathLike, chunk_frames: int = CHUNK_FRAMES, events: bool = False,
           progress: Callable[[str], None] | None = None) -> Digest:
    """Analyse the capture at *path* and return what a report shows.

    *events* keeps one row per (frame, label) as well (for csv/json reports;
    that list grows with the labelled frames).  *chunk_frames* is how many
    frames the engine reads at a time.  Raises :class:`.reader.CaptureError`
    for a file that is not a capture.
    """
    if engine.available():
        from . import results

        return results.digest(path, chunk_frames, events, progress)
    return digest_of_analysis(analysis.analyze_readably(path, progress), events)


def digest_of_analysis(a: analysis.Analysis, events: bool = False) -> Digest:
    """The digest of a whole analysed capture (the readable pipeline's way to a report)."""
    p = a.packets
    notable = EventDigest(leave_out=REPORT_LEAVES_OUT)
    notable.add(p)
    return Digest(info=a.info, streams=a.streams, facts=a.summary(), checksums=checksum_facts(p),
                  notable=notable.table(), events=events_table(p) if events else None)


def frames_of(path: str | os.PathLike, d: Digest, proto: str, stream: int,
              chunk_frames: int = CHUNK_FRAMES) -> pd.DataFrame:
    """Every frame of one stream, analysed as :func:`.analysis.analyze` would (``explain`` included).

    Reads the capture once more, making the same whole-capture assumptions as
    the read that gave *d*, and keeps only that stream's rows.
    """
    if engine.available():
        from . import results

        return results.frames_of(path, d, proto, stream, chunk_frames)
    p = analysis.analyze_readably(path).packets
    return p[((p["proto"] == proto) & (p["stream"] == stream)).fillna(False).to_numpy()].reset_index(drop=True)
