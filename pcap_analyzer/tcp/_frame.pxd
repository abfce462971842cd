# The frame under analysis, as the TCP stages share it: its decoded fields, then what each
# stage finds (flows: stream, side, relative numbers, phase; sequence: labels, RTT ...).
from libc.stdint cimport int64_t

cdef struct Frame:
    # decoded (columns.FRAME)
    int64_t frame, now, proto, src, dst, sport, dport, flags, seq, ack, window, plen_raw, hdrlen
    int64_t wscale, sack_bytes, ip_ck, l4_ck, fragment, truncated, malformed
    int64_t okind, osrc, osport, odst, odport
    int64_t sack[4]              # SACK blocks: left edge << 32 | right edge (-1: none)
    # derived: payload bytes (0 when unknown), whether the segment's length is known
    int64_t plen
    bint known
    # flows: 0 none, 1 tcp, 2 udp; stream number; side 0/1 (0: the endpoint that sorts
    # first in the four-tuple); relative numbers; phase; label bits
    int64_t kind, stream, side, rel_seq, rel_ack, next_rel_seq, phase, labels
    int64_t other_stream         # the stream of the frame's second flow (-1: none)
    # sequence analysis
    int64_t dup_num, dup_of, acks_frame, bif, rto_frame, asked_frame, copy_frame, fin_frame, wsize
    double rtt, rto, since_copy, irtt
