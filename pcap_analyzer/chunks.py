"""A capture as a sequence of packet tables, for reading big files in bounded memory.

:func:`iter_packet_tables` hands out the packet table of a capture a chunk
of consecutive frames at a time.  Each chunk is what the whole-file readers
(:func:`.fastpath.build_table`, else :func:`.decode.build_table` over
:func:`.reader.read_frames`) would give for those rows: frame numbers run on
across chunks, an IP datagram whose fragments straddle two chunks is
reassembled as in the whole file, and the column dtypes do not depend on
the chunk's contents, so ``pd.concat(chunks, ignore_index=True)`` is the
whole-file table.
"""
from __future__ import annotations

import os
import queue
import threading
from contextlib import closing
from typing import Callable, Iterator

import pandas as pd

from . import decode, fastpath, reader

DEFAULT_CHUNK_FRAMES = 250_000
# Read the next table on a second thread while this one is analysed (see
# _read_ahead).  Worker processes that already keep every core busy turn it
# off (pcap_analyzer.batch).
READ_AHEAD = True


def iter_packet_tables(path: str | os.PathLike, info: reader.CaptureInfo,
                       chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                       progress: Callable[[int], None] | None = None,
                       split: fastpath.Split | None = None,
                       read_ahead: bool | None = None) -> Iterator[pd.DataFrame]:
    """Yield the packet table of the capture at *path* in chunks of at most *chunk_frames* rows.

    No chunk is empty; a capture without frames yields nothing.  *info* is
    filled in as the file is read (warnings about damage as reading stops)
    and is complete once the iteration ends.  *progress*, if given, is called
    with the number of frames read so far as each chunk is ready.

    Raises :class:`.reader.CaptureError` when the first chunk is asked for if
    the file is not a capture.  The file stays open until the iteration ends
    or the generator is closed.  *split* keeps one share of the conversations
    (:class:`.fastpath.Split`; classic pcap files only, see
    :func:`.fastpath.can_read`); *progress* then still counts every frame read.
    *read_ahead* reads the next table on another thread meanwhile (see
    :func:`_read_ahead`; default :data:`READ_AHEAD`); without it, a table is
    read when asked for.
    """
    if chunk_frames < 1:
        raise ValueError("chunk_frames must be at least 1")
    path = os.fspath(path)
    tables = fastpath.iter_tables(path, info, chunk_frames, split)
    if tables is None:
        if split is not None:
            raise ValueError(f"{path}: only classic pcap files can be split")
        tables = decode.iter_tables(reader.read_frames(path, info), chunk_frames)
    if read_ahead is None:
        read_ahead = READ_AHEAD
    for table in (_read_ahead(tables) if read_ahead else tables):
        if progress is not None:
            progress(int(table["frame"].iloc[-1]))    # frames are numbered from 1: all read so far
        yield table


def _read_ahead(tables: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The tables of *tables*, the next one read in a background thread while the caller works on this one.

    Reading is mostly compiled decoding and numpy work that lets go of the
    interpreter lock, so on a second core it runs alongside the analysis of
    the chunk before.  At most one table waits ready.  An error while
    reading is raised here, at the table it stopped; closing this generator
    stops the reading and closes *tables*.
    """
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        with closing(tables):
            try:
                for table in tables:
                    if not hand_over((table, None)):
                        return
                    del table
            except BaseException as exc:  # handed to the reader of the tables, raised there
                hand_over((None, exc))
                return
            hand_over((None, None))

    reader_thread = threading.Thread(target=read, name="pcapan-read-ahead", daemon=True)
    reader_thread.start()
    try:
        while True:
            table, error = ready.get()
            if error is not None:
                raise error
            if table is None:
                return
            yield table
            del table
    finally:
        stop.set()
        reader_thread.join()
