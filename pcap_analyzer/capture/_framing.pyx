# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Framing: where the packets of a classic pcap or pcapng byte stream lie, and when they were captured.

A :class:`Framer` walks the bytes it is handed -- a whole memory-mapped
file, or the next piece of a stream -- and writes for each packet where its
bytes start, how many were captured and sent, its interface and its time in
integer nanoseconds.  It stops where a record is not complete in the bytes
it was handed (the caller hands it more, or calls the capture truncated),
at damage it cannot read past, and at the pcapng blocks that describe a
section or an interface, which :mod:`.pcapng` reads.

Times are nanoseconds since the epoch.  A pcapng file may give times that
do not fit 64 bits of nanoseconds (far-future clocks, huge offsets,
one-second resolution); then every time is counted from the first packet's
second instead (:attr:`Framer.base_s`), and a time still out of reach is
held at the limit and counted (:attr:`Framer.clamped`).
"""
cimport cython
from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libcpp.vector cimport vector

include "_vocabulary.pxi"

cdef extern from *:
    """
    #include <stdint.h>
    /* ticks of 1/units s since the epoch, shifted by offset_s: ns since base_s (chosen by the first
       call: 0 when that time fits 64 bits of ns, else its own second); 1 when held at a limit */
    static int pcapan_time(uint64_t ticks, uint64_t units, int64_t offset_s, int64_t* base_s, int* base_set,
                           int64_t* out) {
        const __int128 G = 1000000000;
        __int128 sec = (__int128)(ticks / units) + offset_s;
        __int128 frac = ((__int128)(ticks % units) * G) / units;
        __int128 ns;
        if (!*base_set) {
            __int128 whole = sec * G + frac;
            *base_set = 1;
            if (whole > INT64_MAX || whole <= INT64_MIN)
                *base_s = sec > INT64_MAX ? INT64_MAX : (sec < INT64_MIN ? INT64_MIN : (int64_t)sec);
        }
        ns = (sec - *base_s) * G + frac;
        if (ns > INT64_MAX) { *out = INT64_MAX; return 1; }
        if (ns <= INT64_MIN) { *out = INT64_MIN + 1; return 1; }
        *out = (int64_t)ns;
        return 0;
    }
    """
    int pcapan_time(uint64_t ticks, uint64_t units, int64_t offset_s, int64_t* base_s, int* base_set,
                    int64_t* out) nogil
    uint32_t __builtin_bswap32(uint32_t) nogil
    uint16_t __builtin_bswap16(uint16_t) nogil

# What a walk ended on (the second value :meth:`Framer.walk` returns): every byte handed was
# read; as many packets as asked for; the record at the position returned is not complete in
# the bytes handed; a pcapng section header or interface description starts there; it cannot
# read on (Framer.damage says why).
cdef enum:
    S_END = 0
    S_LIMIT = 1
    S_MORE = 2
    S_META = 3
    S_DAMAGED = 4
    # why (Framer.damage): a record longer than any packet, a block length that cannot be, a
    # block whose two lengths disagree
    D_RECORD_TOO_LONG = 1
    D_BAD_BLOCK_LENGTH = 2
    D_LENGTHS_DISAGREE = 3
    # oddities a walk reads past, counted per kind (Framer.odd): a packet block too short to hold
    # its fields (skipped), one claiming more bytes than it holds (cut to the block), one naming
    # an interface its section does not describe (link layer unknown)
    O_SHORT_BLOCK = 0
    O_CUT_BLOCK = 1
    O_UNKNOWN_INTERFACE = 2
END, LIMIT, MORE, META, DAMAGED = S_END, S_LIMIT, S_MORE, S_META, S_DAMAGED
RECORD_TOO_LONG, BAD_BLOCK_LENGTH, LENGTHS_DISAGREE = D_RECORD_TOO_LONG, D_BAD_BLOCK_LENGTH, D_LENGTHS_DISAGREE
SHORT_BLOCK, CUT_BLOCK, UNKNOWN_INTERFACE = O_SHORT_BLOCK, O_CUT_BLOCK, O_UNKNOWN_INTERFACE

cdef inline uint32_t _read32(const uint8_t* p, bint swap) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, p, 4)
    return __builtin_bswap32(v) if swap else v


cdef enum:
    BT_SHB = 0x0A0D0D0A
    BT_IDB = 1
    BT_PB = 2
    BT_SPB = 3
    BT_EPB = 6


cdef struct Interface:
    int64_t linktype
    uint64_t units           # time ticks per second
    int64_t offset_s         # seconds added to every time
    int64_t snaplen


@cython.final
cdef class Framer:
    """The framing state of one capture: its format, interfaces and time base."""
    cdef public bint pcapng        # else classic pcap
    cdef public bint swap          # multi-byte fields in the other byte order than this machine's
    cdef public bint nano          # classic pcap: nanosecond times
    cdef public int64_t record_extra   # classic pcap: bytes after each record header (modified pcap: 8)
    cdef public int64_t linktype       # classic pcap
    cdef public int64_t section_first  # pcapng: the current section's first interface
    cdef public int64_t base_s, clamped, frames
    cdef int base_set
    cdef vector[Interface] ifaces
    # the damage a walk stopped at: kind and the value that was wrong
    cdef public int64_t damage, damage_value
    # per oddity kind: how many, first frame, its value
    cdef int64_t odd_count[3]
    cdef int64_t odd_frame[3]
    cdef int64_t odd_value[3]

    def __cinit__(self):
        self.base_s = 0
        self.base_set = 0
        self.clamped = 0
        self.frames = 0
        for k in range(3):
            self.odd_count[k] = 0
            self.odd_frame[k] = -1
            self.odd_value[k] = -1

    def add_interface(self, int64_t linktype, uint64_t units, int64_t offset_s, int64_t snaplen):
        cdef Interface i
        i.linktype = linktype
        i.units = units if units > 0 else 1000000
        i.offset_s = offset_s
        i.snaplen = snaplen
        self.ifaces.push_back(i)

    def new_section(self, bint swap):
        """A pcapng section starts: its interfaces are numbered from 0 again."""
        self.swap = swap
        self.section_first = self.ifaces.size()

    @property
    def interfaces(self):
        return self.ifaces.size()

    def linktypes(self):
        """The link type of every interface, by global number."""
        return [self.ifaces[j].linktype for j in range(self.ifaces.size())]

    def odd(self, int kind):
        """(count, first frame, its value) of an oddity kind."""
        return self.odd_count[kind], self.odd_frame[kind], self.odd_value[kind]

    cdef inline uint32_t _u32(self, const uint8_t* p) noexcept nogil:
        cdef uint32_t v
        memcpy(&v, p, 4)
        return __builtin_bswap32(v) if self.swap else v

    cdef inline uint32_t _u16(self, const uint8_t* p) noexcept nogil:
        cdef uint16_t v
        memcpy(&v, p, 2)
        return __builtin_bswap16(v) if self.swap else v

    cdef inline void _oddity(self, int kind, int64_t frame, int64_t value) noexcept nogil:
        if self.odd_count[kind] == 0:
            self.odd_frame[kind] = frame
            self.odd_value[kind] = value
        self.odd_count[kind] += 1

    def walk(self, const uint8_t[::1] buf, int64_t pos, int64_t end, int64_t limit, int64_t[:, ::1] out):
        """Frame the packets in buf[pos:end], at most *limit*; returns (packets, status, next position).

        *out* gets one row per packet: data offset, captured and original
        length, interface, time (ns), options offset and length (pcapng).
        """
        cdef const uint8_t* b = &buf[0] if buf.shape[0] > 0 else NULL
        cdef int64_t k = 0
        cdef int status
        if limit > out.shape[0]:
            limit = out.shape[0]
        with nogil:
            if self.pcapng:
                status = self._blocks(b, &pos, end, limit, out, &k)
            else:
                status = self._records(b, &pos, end, limit, out, &k)
        self.frames += k
        return k, status, pos

    cdef int _records(self, const uint8_t* b, int64_t* at, int64_t end, int64_t limit, int64_t[:, ::1] out,
                      int64_t* count) noexcept nogil:
        cdef int64_t pos = at[0], k = count[0], head = 16 + self.record_extra, sec, frac, cl, wl
        cdef int64_t scale = 1 if self.nano else 1000
        cdef bint swap = self.swap
        cdef int64_t* row
        cdef int status = S_END
        while True:
            if pos >= end:
                break
            if k >= limit:
                status = S_LIMIT
                break
            if pos + head > end:
                status = S_MORE
                break
            sec = _read32(b + pos, swap)
            frac = _read32(b + pos + 4, swap)
            cl = _read32(b + pos + 8, swap)
            wl = _read32(b + pos + 12, swap)
            if cl > MAX_RECORD_BYTES:
                self.damage = D_RECORD_TOO_LONG
                self.damage_value = cl
                status = S_DAMAGED
                break
            if pos + head + cl > end:
                status = S_MORE
                break
            row = &out[k, 0]
            row[0] = pos + head
            row[1] = cl
            row[2] = wl if wl > cl else cl
            row[3] = 0
            row[4] = sec * 1000000000 + frac * scale
            row[5] = 0
            row[6] = 0
            k += 1
            pos += head + cl
        at[0] = pos
        count[0] = k
        return status

    cdef int _blocks(self, const uint8_t* b, int64_t* at, int64_t end, int64_t limit, int64_t[:, ::1] out,
                     int64_t* count) noexcept nogil:
        cdef int64_t pos = at[0], k = count[0], btype, blen, body, iface, cl, wl, avail, data, opts, ts
        cdef uint64_t ticks
        cdef Interface itf
        cdef int status = S_END
        while True:
            if pos >= end:
                break
            if k >= limit:
                status = S_LIMIT
                break
            if pos + 8 > end:
                status = S_MORE
                break
            btype = self._u32(b + pos)
            if btype == BT_SHB or btype == BT_IDB:
                status = S_META
                break
            blen = self._u32(b + pos + 4)
            if blen < 12 or blen % 4 or blen > MAX_BLOCK_BYTES:
                self.damage = D_BAD_BLOCK_LENGTH
                self.damage_value = blen
                status = S_DAMAGED
                break
            if pos + blen > end:
                status = S_MORE
                break
            if <int64_t>self._u32(b + pos + blen - 4) != blen:
                self.damage = D_LENGTHS_DISAGREE
                self.damage_value = blen
                status = S_DAMAGED
                break
            body = blen - 12
            if btype == BT_EPB or btype == BT_PB:
                if body < 20:
                    self._oddity(O_SHORT_BLOCK, self.frames + k + 1, btype)
                    pos += blen
                    continue
                if btype == BT_EPB:
                    iface = self._u32(b + pos + 8)
                else:
                    iface = self._u16(b + pos + 8)
                ticks = (<uint64_t>self._u32(b + pos + 12) << 32) | self._u32(b + pos + 16)
                cl = self._u32(b + pos + 20)
                wl = self._u32(b + pos + 24)
                data = pos + 28
                avail = body - 20
                opts = data + ((cl + 3) & ~3)
                if cl > avail:
                    self._oddity(O_CUT_BLOCK, self.frames + k + 1, cl)
                    cl = avail
                    opts = pos + blen - 4
            elif btype == BT_SPB:
                if body < 4:
                    pos += blen
                    continue
                iface = 0
                ticks = 0
                wl = self._u32(b + pos + 8)
                data = pos + 12
                avail = body - 4
                cl = wl if wl < avail else avail
                if self.section_first < <int64_t>self.ifaces.size():
                    itf = self.ifaces[self.section_first]
                    if 0 < itf.snaplen < cl:
                        cl = itf.snaplen
                opts = pos + blen - 4
            else:
                pos += blen      # name resolution, statistics, secrets, custom and unknown blocks
                continue
            out[k, 0] = data
            out[k, 1] = cl
            out[k, 2] = wl if wl > cl else cl
            out[k, 5] = opts
            out[k, 6] = pos + blen - 4 - opts if pos + blen - 4 > opts else 0
            if self.section_first + iface < <int64_t>self.ifaces.size():
                itf = self.ifaces[self.section_first + iface]
            else:
                self._oddity(O_UNKNOWN_INTERFACE, self.frames + k + 1, iface)
                itf.units = 1000000
                itf.offset_s = 0
            out[k, 3] = self.section_first + iface
            if btype == BT_SPB:
                out[k, 4] = 0     # a simple packet block carries no time
            else:
                if pcapan_time(ticks, itf.units, itf.offset_s, &self.base_s, &self.base_set, &ts):
                    self.clamped += 1
                out[k, 4] = ts
            k += 1
            pos += blen
        at[0] = pos
        count[0] = k
        return status

    def count(self, const uint8_t[::1] buf, int64_t pos, int64_t end):
        """How many packets a walk from *pos* would find (stopping where it would), reading only lengths."""
        cdef const uint8_t* b = &buf[0] if buf.shape[0] > 0 else NULL
        cdef int64_t n = 0, head = 16 + self.record_extra, cl, btype, blen
        with nogil:
            while True:
                if self.pcapng:
                    if pos + 8 > end:
                        break
                    btype = self._u32(b + pos)
                    blen = self._u32(b + pos + 4)
                    if btype == BT_SHB:
                        # its own byte order decides the length; the walk will stop here anyway
                        break
                    if blen < 12 or blen % 4 or blen > MAX_BLOCK_BYTES or pos + blen > end:
                        break
                    if btype == BT_EPB or btype == BT_PB or btype == BT_SPB:
                        n += 1
                    pos += blen
                else:
                    if pos + head > end:
                        break
                    cl = self._u32(b + pos + 8)
                    if cl > MAX_RECORD_BYTES or pos + head + cl > end:
                        break
                    n += 1
                    pos += head + cl
        return n
