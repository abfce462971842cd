# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""csv text of a table's columns, written as pandas writes it (report/csv_text.py decides which columns
it can take and gives them here as arrays); and floats as Python's repr and arrow write them."""
from libc.stdint cimport INT64_MIN, int64_t, uint8_t, uint64_t
from libc.math cimport isnan
from libc.string cimport memcpy
from libcpp.vector cimport vector

from pcap_analyzer._table cimport PcapanTable

import numpy as np

from libc.stdlib cimport abort, free, realloc
from libc.string cimport strlen
from libc.math cimport isinf, rint, signbit
from cpython.bytes cimport PyBytes_FromStringAndSize

cdef extern from *:
    """
    #include <charconv>
    /* the shortest round-trip digits of x in scientific notation (d.ddde+XX); returns the length */
    static inline int pcapan_shortest(double x, char* buf) {
        std::to_chars_result r = std::to_chars(buf, buf + 40, x, std::chars_format::scientific);
        return (int)(r.ptr - buf);
    }
    """
    int pcapan_shortest(double x, char* buf) nogil


cdef struct Buf:                 # a growing byte buffer (malloc'd; no zero-filling as a vector's resize does)
    char* p
    size_t n, cap


cdef void _reserve(Buf* b, size_t extra) noexcept nogil:
    cdef size_t want = b.n + extra
    cdef char* grown
    if want <= b.cap:
        return
    want = max(want, 2 * b.cap)
    grown = <char*>realloc(b.p, want)
    if grown == NULL:
        abort()
    b.p = grown
    b.cap = want


cdef inline void _putn(Buf* b, const char* s, size_t k) noexcept nogil:
    _reserve(b, k)
    memcpy(b.p + b.n, s, k)
    b.n += k


cdef inline void _put(Buf* b, const char* s) noexcept nogil:
    _putn(b, s, strlen(s))


cdef inline void _putc(Buf* b, char c) noexcept nogil:
    _reserve(b, 1)
    b.p[b.n] = c
    b.n += 1


cdef inline void _put_int(Buf* b, int64_t v) noexcept nogil:
    cdef char tmp[24]
    cdef int k = 24
    cdef uint64_t u
    cdef bint negative = v < 0
    u = <uint64_t>(-(v + 1)) + 1 if negative else <uint64_t>v
    while True:
        k -= 1
        tmp[k] = <char>(48 + u % 10)
        u //= 10
        if u == 0:
            break
    if negative:
        k -= 1
        tmp[k] = b'-'
    _putn(b, tmp + k, 24 - k)


cdef const char* _PAIRS = (b"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                          b"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                          b"8081828384858687888990919293949596979899")


cdef inline int _width(uint64_t u) noexcept nogil:
    cdef int k = 1
    while u >= 10000:
        u //= 10000
        k += 4
    if u >= 1000:
        return k + 3
    if u >= 100:
        return k + 2
    if u >= 10:
        return k + 1
    return k


cdef inline char* _w_int(char* q, int64_t v) noexcept nogil:
    """Decimal digits of *v*, two at a time."""
    cdef uint64_t u, r
    cdef int k
    if v < 0:
        q[0] = b'-'
        q += 1
        u = <uint64_t>(-(v + 1)) + 1
    else:
        u = <uint64_t>v
    k = _width(u)
    q += k
    while u >= 100:
        r = (u % 100) * 2
        u //= 100
        q -= 2
        q[0] = _PAIRS[r]
        q[1] = _PAIRS[r + 1]
    if u >= 10:
        q -= 2
        q[0] = _PAIRS[2 * u]
        q[1] = _PAIRS[2 * u + 1]
    else:
        q -= 1
        q[0] = <char>(48 + u)
    return q + k


cdef int _digits(double x, char* digits, int* e10) noexcept nogil:
    """The shortest digits that read back as *x* (positive, finite), and the power of ten of the first."""
    cdef char tmp[48]
    cdef int k, nd = 0, n, e = 0
    cdef bint negative = False
    cdef int64_t ticks = <int64_t>rint(x * 1e9) if x < 1e6 else 0
    if 0 < ticks and <double>ticks / 1e9 == x:
        # a number of nanoseconds in seconds, as every time here is: its digits are those of the
        # integer (at most 15 of them, so no shorter number reads back as the same float)
        n = <int>(_w_int(digits, ticks) - digits)
        e10[0] = n - 10
        nd = n
    else:
        n = pcapan_shortest(x, tmp)
        k = 0
        while tmp[k] != b'e':
            if tmp[k] != b'.':
                digits[nd] = tmp[k]
                nd += 1
            k += 1
        k += 1
        if tmp[k] == b'-':
            negative = True
        k += 1
        while k < n:
            e = 10 * e + (tmp[k] - 48)
            k += 1
        e10[0] = -e if negative else e
    while nd > 1 and digits[nd - 1] == b'0':
        nd -= 1
    return nd


cdef void _put_layout(Buf* b, const char* digits, int nd, int e10, int low, int high, bint dot0,
                      int exp_width) noexcept nogil:
    """Digits laid out in fixed notation when low <= e10 < high (with ".0" on whole numbers if *dot0*),
    else as d.ddde+XX with at least *exp_width* exponent digits."""
    cdef int j
    if low <= e10 < high:
        if e10 < 0:
            _putn(b, b"0.", 2)
            for j in range(-e10 - 1):
                _putc(b, b'0')
            _putn(b, digits, nd)
        else:
            for j in range(e10 + 1):
                _putc(b, digits[j] if j < nd else b'0')
            if nd > e10 + 1:
                _putc(b, b'.')
                _putn(b, digits + e10 + 1, nd - e10 - 1)
            elif dot0:
                _putn(b, b".0", 2)
    else:
        _putc(b, digits[0])
        if nd > 1:
            _putc(b, b'.')
            _putn(b, digits + 1, nd - 1)
        _putc(b, b'e')
        _putc(b, b'-' if e10 < 0 else b'+')
        if e10 < 0:
            e10 = -e10
        if exp_width == 2 and e10 < 10:
            _putc(b, b'0')
        _put_int(b, e10)


cdef void _put_shortest(Buf* b, double x) noexcept nogil:
    """A float as arrow writes it as text: the shortest digits that read back as it, in fixed
    notation from 1e-6 up to 1e10, else as d.ddde+X."""
    cdef char digits[24]
    cdef int e10, nd
    if x == 0:
        _put(b, b"-0" if signbit(x) else b"0")
        return
    if x < 0:
        _putc(b, b'-')
        x = -x
    nd = _digits(x, digits, &e10)
    _put_layout(b, digits, nd, e10, -6, 10, False, 1)


cdef void _put_repr(Buf* b, double x) noexcept nogil:
    """A float as Python's repr writes it (finite; what pandas writes in csv): the shortest digits,
    fixed notation from 1e-4 up to 1e16 with ".0" on whole numbers, else d.ddde+XX."""
    cdef char digits[24]
    cdef int e10, nd
    if isinf(x):
        _put(b, b"-inf" if x < 0 else b"inf")
        return
    if x == 0:
        _put(b, b"-0.0" if signbit(x) else b"0.0")
        return
    if x < 0:
        _putc(b, b'-')
        x = -x
    nd = _digits(x, digits, &e10)
    _put_layout(b, digits, nd, e10, -4, 16, True, 2)


def _float_texts(double[::1] x, bint as_repr):
    """Each float as :func:`_put_repr` (Python's repr) or :func:`_put_shortest` (arrow's cast) writes it
    (for the tests)."""
    cdef Buf b
    b.p = NULL
    b.n = b.cap = 0
    out = []
    for i in range(x.shape[0]):
        b.n = 0
        if as_repr:
            _put_repr(&b, x[i])
        else:
            _put_shortest(&b, x[i])
        out.append(PyBytes_FromStringAndSize(b.p, b.n).decode())
    free(b.p)
    return out

# ---------------------------------------------------------------------------
# csv text of a table's columns, as pandas writes it (report/csv_text.py decides
# which columns it can take and gives them here as arrays)

cdef enum:
    C_INT, C_BOOL, C_FLOAT, C_TIME, C_CATEGORY, C_TEXT


cdef struct Column:
    int kind
    const int64_t* ints            # C_INT, C_TIME (ns), C_CATEGORY (codes), C_TEXT (offsets)
    const uint8_t* bools           # C_BOOL values
    const uint8_t* missing         # 1 where the cell is empty (may be NULL)
    const double* floats           # C_FLOAT
    const uint8_t* text            # C_TEXT bytes
    const char** names             # C_CATEGORY: each category's cell (quoted already)
    const size_t* name_lengths
    int digits                     # C_TIME: decimals of a second (6 or 9)


cdef void _civil(int64_t days, int64_t* y, int64_t* m, int64_t* d) noexcept nogil:
    """Year, month and day of a day count since 1970-01-01 (proleptic Gregorian calendar)."""
    cdef int64_t z = days + 719468
    cdef int64_t era = (z if z >= 0 else z - 146096) // 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    d[0] = doy - (153 * mp + 2) // 5 + 1
    m[0] = mp + 3 if mp < 10 else mp - 9
    y[0] = yoe + era * 400 + (1 if m[0] <= 2 else 0)


# The cell writers below write at *q* (room made beforehand: a row's worst case) and return where
# they stopped.

cdef inline char* _w_digits(char* q, int64_t v, int width) noexcept nogil:
    cdef int k
    for k in range(width - 1, -1, -1):
        q[k] = <char>(48 + v % 10)
        v //= 10
    return q + width


cdef struct Clock:               # the text of the last second written (times come in order)
    int64_t second
    char text[20]


cdef char* _w_time(char* q, int64_t ns, Clock* last, int digits) noexcept nogil:
    """YYYY-MM-DDTHH:MM:SS.fffffffffZ of a time in ns since the epoch, with *digits* decimals (9, or 6:
    microseconds rounded down)."""
    cdef int64_t secs = ns // 1000000000 if ns >= 0 else -((-ns + 999999999) // 1000000000)
    cdef int64_t frac = ns - secs * 1000000000
    cdef int64_t days, rest, y, m, d
    cdef char* t
    if secs != last.second:
        days = secs // 86400 if secs >= 0 else -((-secs + 86399) // 86400)
        rest = secs - days * 86400
        _civil(days, &y, &m, &d)
        t = last.text
        t = _w_digits(t, y, 4)
        t[0] = b'-'
        t = _w_digits(t + 1, m, 2)
        t[0] = b'-'
        t = _w_digits(t + 1, d, 2)
        t[0] = b'T'
        t = _w_digits(t + 1, rest // 3600, 2)
        t[0] = b':'
        t = _w_digits(t + 1, rest // 60 % 60, 2)
        t[0] = b':'
        t = _w_digits(t + 1, rest % 60, 2)
        t[0] = b'.'
        last.second = secs
    memcpy(q, last.text, 20)
    q = _w_digits(q + 20, frac // 1000 if digits == 6 else frac, digits)
    q[0] = b'Z'
    return q + 1


cdef char* _w_repr(char* q, double x) noexcept nogil:
    """:func:`_put_repr` writing at *q* (a float is at most 25 characters)."""
    cdef Buf b
    cdef char tmp[40]
    b.p = tmp
    b.n = 0
    b.cap = 40
    _put_repr(&b, x)
    memcpy(q, tmp, b.n)
    return q + b.n


cdef char* _w_text(char* q, const uint8_t* s, int64_t k, const uint8_t* special) noexcept nogil:
    """A text cell as the csv module writes it: in double quotes (inner ones doubled) if it holds a
    character that needs them."""
    cdef int64_t j
    for j in range(k):
        if special[s[j]]:
            break
    else:
        memcpy(q, s, k)
        return q + k
    q[0] = b'"'
    q += 1
    for j in range(k):
        if s[j] == b'"':
            q[0] = b'"'
            q += 1
        q[0] = <char>s[j]
        q += 1
    q[0] = b'"'
    return q + 1


def csv_rows(list columns, const uint8_t[::1] special, Py_ssize_t start, Py_ssize_t stop, uint8_t[::1] out):
    """The csv rows start:stop (each ended by a newline) of *columns*, written into *out* as far as
    whole rows fit; returns (the first row not written, the bytes written).  Each column is a tuple:

    ("int", int64 values, missing) ("bool", uint8 values, missing) ("float", float64 values)
    ("time", int64 ns, missing, decimals) ("category", int64 codes, [cell bytes]) ("text", int64 offsets,
    uint8 bytes, missing); missing is a uint8 array (1: empty cell) or None, a float's NaN is an
    empty cell, a code -1 too.  *special* marks the bytes that make a text cell quoted.
    """
    cdef Py_ssize_t ncol = len(columns), i, j
    cdef vector[Column] cols
    cdef Column c
    cdef vector[const char*] names
    cdef vector[size_t] lengths
    cdef vector[size_t] name_start
    keep = []        # the arrays the pointers point into
    cdef const int64_t[::1] iv
    cdef const uint8_t[::1] uv
    cdef const double[::1] fv
    cdef int64_t fixed = ncol + 1, w
    for spec in columns:
        kind = spec[0]
        c.ints = NULL
        c.bools = NULL
        c.missing = NULL
        c.floats = NULL
        c.text = NULL
        c.names = NULL
        c.digits = 6
        c.name_lengths = NULL
        # the widest cell of the column (text: twice its bytes and two quotes, added per row)
        w = {"int": 20, "bool": 5, "float": 25, "time": 30, "text": 2, "category": 0}[kind]
        if kind in ("int", "time", "category", "text"):
            iv = spec[1]
            keep.append(spec[1])
            c.ints = &iv[0] if iv.shape[0] else NULL
        if kind == "int":
            c.kind = C_INT
        elif kind == "time":
            c.kind = C_TIME
            c.digits = 9 if spec[3] == 9 else 6
        elif kind == "bool":
            c.kind = C_BOOL
            uv = spec[1]
            keep.append(spec[1])
            c.bools = &uv[0] if uv.shape[0] else NULL
        elif kind == "float":
            c.kind = C_FLOAT
            fv = spec[1]
            keep.append(spec[1])
            c.floats = &fv[0] if fv.shape[0] else NULL
        elif kind == "category":
            c.kind = C_CATEGORY
            name_start.push_back(names.size())
            for cell in spec[2]:
                keep.append(cell)
                names.push_back(<const char*>cell)
                lengths.push_back(len(cell))
                w = max(w, len(cell))
        else:
            c.kind = C_TEXT
            uv = spec[2]
            keep.append(spec[2])
            c.text = &uv[0] if uv.shape[0] else NULL
        fixed += w
        missing = spec[2] if kind in ("int", "bool", "time") else (spec[3] if kind == "text" else None)
        if missing is not None:
            uv = missing
            keep.append(missing)
            c.missing = &uv[0] if uv.shape[0] else NULL
        cols.push_back(c)
    # the category names' pointers, now that the vectors will not move
    cdef size_t at = 0
    for j in range(ncol):
        if cols[j].kind == C_CATEGORY:
            cols[j].names = names.data() + name_start[at]
            cols[j].name_lengths = lengths.data() + name_start[at]
            at += 1
    cdef const uint8_t* sp = &special[0]
    cdef char* base = <char*>&out[0] if out.shape[0] else NULL
    cdef char* end = base + out.shape[0]
    cdef char* q = base
    cdef Column* col
    cdef int64_t code, room
    cdef Clock clock
    clock.second = INT64_MIN
    with nogil:
        i = start
        while i < stop:
            room = fixed
            for j in range(ncol):
                if cols[j].kind == C_TEXT:
                    room += 2 * (cols[j].ints[i + 1] - cols[j].ints[i])
            if room > end - q:
                break
            for j in range(ncol):
                if j:
                    q[0] = b','
                    q += 1
                col = &cols[j]
                if col.missing != NULL and col.missing[i]:
                    continue
                if col.kind == C_INT:
                    q = _w_int(q, col.ints[i])
                elif col.kind == C_FLOAT:
                    if not isnan(col.floats[i]):
                        q = _w_repr(q, col.floats[i])
                elif col.kind == C_BOOL:
                    if col.bools[i]:
                        memcpy(q, b"True", 4)
                        q += 4
                    else:
                        memcpy(q, b"False", 5)
                        q += 5
                elif col.kind == C_TIME:
                    q = _w_time(q, col.ints[i], &clock, col.digits)
                elif col.kind == C_CATEGORY:
                    code = col.ints[i]
                    if code >= 0:
                        memcpy(q, col.names[code], col.name_lengths[code])
                        q += col.name_lengths[code]
                else:
                    q = _w_text(q, col.text + col.ints[i], col.ints[i + 1] - col.ints[i], sp)
            q[0] = b'\n'
            q += 1
            i += 1
    return i, q - base


def factorize(const int64_t[::1] values):
    """(code of each value, the distinct values in order of first appearance), by hashing."""
    cdef Py_ssize_t n = values.shape[0], i
    codes_a = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] codes = codes_a
    cdef PcapanTable seen
    cdef vector[int64_t] uniques
    cdef int64_t c
    with nogil:
        for i in range(n):
            c = seen.find(<uint64_t>values[i], 0)
            if c < 0:
                c = <int64_t>uniques.size()
                seen.add(<uint64_t>values[i], 0, c)
                uniques.push_back(values[i])
            codes[i] = c
    return codes_a, np.array([u for u in uniques], dtype=np.int64)

