"""Per-stream facts: who talked to whom, the handshake, Zeek-style state.

The streams table has one row per TCP or UDP stream.  The connection verdict
follows Zeek: each endpoint has a state (inactive, SYN sent, SYN-ACK sent,
partial = seen only mid-stream, established, closed = sent FIN, reset = sent
RST) and ``conn_state`` is a pure function of the two (see
:func:`conn_state`).  ``history`` lists the first occurrence of each event
per side, client letters upper case, server letters lower case.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .rules.checksums import Verdicts
from .schema import categorical, coded
from .ports import EPHEMERAL_RANGES, port_ranges, range_names, service_name  # noqa: F401  (this module's API)
from .streams import first_rows

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10

INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)


def conn_state(orig: int, resp: int, orig_bytes: int, resp_bytes: int, history: str) -> str:
    """Zeek's connection state from the two endpoint states."""
    o_inactive = orig in (INACTIVE, PARTIAL)
    r_inactive = resp in (INACTIVE, PARTIAL)
    if resp == RESET:
        if orig in (SYN_SENT, SYN_ACK_SENT) or (orig == RESET and orig_bytes == 0 and resp_bytes == 0):
            return "REJ"
        return "RSTRH" if o_inactive else "RSTR"
    if orig == RESET:
        if r_inactive:
            h = history.lstrip("^")
            if h.startswith("S") and "R" in h and not set(h[1:h.index("R")]) & set("HAFGIQ"):
                return "RSTOS0"
            return "OTH"
        return "RSTO"
    if orig == CLOSED and resp == CLOSED:
        return "SF"
    if orig == CLOSED:
        return "SH" if r_inactive else "S2"
    if resp == CLOSED:
        return "SHR" if o_inactive else "S3"
    if orig == SYN_SENT and resp == INACTIVE:
        return "S0"
    if orig == ESTABLISHED and resp == ESTABLISHED:
        return "S1"
    return "OTH"


# History letters: code k < 6 is the client's, k + 6 the server's (lower case).
_LETTERS = "SHDFRAshdfra"
_S, _H, _D, _F, _R, _A = range(6)


def _note(g, letter, side, seen, hist, hist_len):
    """Add *letter* of *side* (0 client, 1 server) to stream *g*'s history, the first time only."""
    key = letter + 6 * side
    if not (seen[g] >> key) & 1:
        seen[g] |= 1 << key
        hist[g, hist_len[g]] = key
        hist_len[g] += 1


def walk(slots, flags, plen, from_client, state, completeness, seen, hist, hist_len):
    """Zeek's endpoint states, history and completeness, carried on by the rows given.

    Row i is a TCP segment of stream ``slots[i]`` (rows in frame order; the
    streams may interleave).  Per stream: ``state[g]`` the two endpoint
    states (client, server), ``completeness[g]`` the bits of what was seen,
    and the history letters in ``hist[g, :hist_len[g]]`` (``seen[g]`` has a
    bit per letter already there).
    """
    for g, f, n, c in zip(slots.tolist(), flags.tolist(), plen.tolist(), from_client.tolist()):
        e = 0 if c else 1
        if f & _SYN:
            if f & _ACK:
                _note(g, _H, e, seen, hist, hist_len)
                completeness[g] |= 2
                if state[g, e] == INACTIVE:
                    state[g, e] = SYN_ACK_SENT
            else:
                _note(g, _S, e, seen, hist, hist_len)
                completeness[g] |= 1
                if state[g, e] == INACTIVE:
                    state[g, e] = SYN_SENT
        if n > 0:
            _note(g, _D, e, seen, hist, hist_len)
            completeness[g] |= 8
        if f & _FIN:
            _note(g, _F, e, seen, hist, hist_len)
            completeness[g] |= 16
        if f & _RST:
            _note(g, _R, e, seen, hist, hist_len)
            completeness[g] |= 32
        if f & _ACK and not f & (_SYN | _FIN | _RST):
            if n == 0:
                _note(g, _A, e, seen, hist, hist_len)
            completeness[g] |= 4
        if f & _RST:
            state[g, e] = RESET
        elif f & _FIN:
            if state[g, e] != RESET:
                state[g, e] = CLOSED
        elif not f & _SYN:
            if state[g, e] == INACTIVE:
                state[g, e] = PARTIAL
            if (f & _ACK and (state[g, 0] == SYN_SENT or state[g, 0] == SYN_ACK_SENT)
                    and (state[g, 1] == SYN_SENT or state[g, 1] == SYN_ACK_SENT)):
                state[g, 0] = ESTABLISHED
                state[g, 1] = ESTABLISHED
            elif state[g, e] == PARTIAL and (state[g, 1 - e] == PARTIAL or state[g, 1 - e] == ESTABLISHED):
                state[g, e] = state[g, 1 - e]




def stream_table(packets: pd.DataFrame) -> pd.DataFrame:
    """One row per TCP/UDP stream of an analysed packet table."""
    facts = StreamFacts()
    facts.add(packets)
    return facts.table()


_LABEL_COUNTS = None   # the sequence labels, filled on first use (rules import this module's users)


def _label_names() -> tuple:
    global _LABEL_COUNTS
    if _LABEL_COUNTS is None:
        from .rules.sequence import SequenceAnalysis
        _LABEL_COUNTS = tuple(SequenceAnalysis.labels)
    return _LABEL_COUNTS


class StreamFacts:
    """The streams table, added up from packet tables of consecutive frames.

    :func:`stream_table` gives it a whole capture at once; a capture read in
    chunks adds one chunk after another and gets the same table.  Memory
    grows with streams: per stream a few numbers, the Zeek state walk's
    included.
    """

    _INTS = ("stream", "client_port", "server_port", "first_frame", "last_frame", "start", "end",
             "syn_frame", "syn_seq", "sa_frame", "sa_seq", "ha_frame")

    def __init__(self) -> None:
        self.slot_of: dict[int, int] = {}
        self.n = 0
        self.ints = {k: np.zeros(0, dtype=np.int64) for k in self._INTS}
        self.is_tcp = np.zeros(0, dtype=bool)
        self.reused = np.zeros(0, dtype=bool)
        self.client = np.zeros(0, dtype=object)
        self.server = np.zeros(0, dtype=object)
        self.irtt = np.zeros(0, dtype=float)
        # per stream: [client, server] packets, bytes, and each counted label / verdict
        self.counts: dict[str, np.ndarray] = {}
        # per TCP stream: the state walk so far (see :func:`walk`)
        self.state = np.zeros((0, 2), dtype=np.int64)
        self.completeness = np.zeros(0, dtype=np.int64)
        self.seen = np.zeros(0, dtype=np.int64)
        self.hist = np.zeros((0, len(_LETTERS)), dtype=np.int64)
        self.hist_len = np.zeros(0, dtype=np.int64)

    @classmethod
    def of_columns(cls, is_tcp: np.ndarray, ints: dict, client: np.ndarray, server: np.ndarray,
                   reused: np.ndarray, counts: dict, state: np.ndarray, completeness: np.ndarray,
                   hist: np.ndarray, hist_len: np.ndarray, irtt: np.ndarray) -> "StreamFacts":
        """Facts added up elsewhere (the compiled engine), one entry per stream: *ints* has
        :attr:`_INTS`, *counts* the (streams x [client, server]) counts, *hist* the history
        letter codes; :meth:`table` then makes the streams table of them."""
        facts = cls()
        facts.n = len(is_tcp)
        facts.ints = {k: np.asarray(ints[k], dtype=np.int64) for k in cls._INTS}
        facts.is_tcp, facts.reused = np.asarray(is_tcp, dtype=bool), np.asarray(reused, dtype=bool)
        facts.client, facts.server = client, server
        facts.counts = counts
        facts.state, facts.completeness = state, completeness
        facts.hist, facts.hist_len = hist, hist_len
        facts.irtt = irtt
        return facts

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        slots = np.empty(len(keys), dtype=np.int64)
        new = []
        for i, k in enumerate(keys.tolist()):
            s = self.slot_of.get(k)
            if s is None:
                s = self.slot_of[k] = self.n + len(new)
                new.append(i)
            slots[i] = s
        if new:
            m = len(new)
            for k in self._INTS:
                self.ints[k] = np.concatenate([self.ints[k], np.full(m, -1, dtype=np.int64)])
            self.is_tcp = np.concatenate([self.is_tcp, np.zeros(m, dtype=bool)])
            self.reused = np.concatenate([self.reused, np.zeros(m, dtype=bool)])
            self.client = np.concatenate([self.client, np.empty(m, dtype=object)])
            self.server = np.concatenate([self.server, np.empty(m, dtype=object)])
            self.irtt = np.concatenate([self.irtt, np.full(m, np.nan)])
            self.state = np.concatenate([self.state, np.full((m, 2), INACTIVE, dtype=np.int64)])
            self.hist = np.concatenate([self.hist, np.zeros((m, len(_LETTERS)), dtype=np.int64)])
            for k in ("completeness", "seen", "hist_len"):
                setattr(self, k, np.concatenate([getattr(self, k), np.zeros(m, dtype=np.int64)]))
            for k in self.counts:
                self.counts[k] = np.concatenate([self.counts[k], np.zeros((m, 2), dtype=np.int64)])
            self.n += m
        return slots

    def _add_count(self, name: str, per_kind: np.ndarray, kinds: list[int], gslot: np.ndarray) -> None:
        """Add the counts of the row *kinds* (per stream of the chunk and direction) to column *name*."""
        c = self.counts.get(name)
        if c is None:
            c = self.counts[name] = np.zeros((self.n, 2), dtype=np.int64)
        if kinds:
            c[gslot] += per_kind[:, :, kinds].sum(axis=2)

    def add(self, packets: pd.DataFrame) -> None:
        """Take in the next frames of the capture (an analysed packet table)."""
        all_proto = packets["proto"].to_numpy(dtype=object)
        valid = np.flatnonzero(packets["stream"].notna().to_numpy()
                               & ((all_proto == "tcp") | (all_proto == "udp")))
        if not len(valid):
            return
        proto = all_proto[valid]
        sid = packets["stream"].to_numpy(dtype=np.int64, na_value=-1)[valid]
        # one integer key per (proto, stream), streams in order: tcp first, then udp
        key = np.where(proto == "tcp", 0, 1 << 40) + sid
        order = np.argsort(key, kind="stable")
        key = key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[starts[1:], len(key)]
        rows = order  # positions among the valid rows, grouped by stream, frame order inside
        at = valid[order]   # the same, as positions in *packets*

        def col(name, fill=None, dtype=None):
            c = packets[name]
            if fill is not None:
                return c.to_numpy(dtype=dtype, na_value=fill)[at]
            return c.to_numpy(dtype=dtype)[at]

        fresh = len(self.slot_of)
        gslot = self._slots(key[starts])
        new = gslot >= fresh
        seg = np.repeat(np.arange(len(starts)), ends - starts)
        slot = gslot[seg]
        fc = col("from_client", False, bool)
        plen = col("payload_len", 0, np.int64)
        frame = col("frame", dtype=np.int64)
        ts = col("ts_ns", dtype=np.int64)
        flags = col("tcp_flags", 0, np.int64)
        ints = self.ints
        # who talked to whom: the first packet of the stream and who the client is
        f = starts[new]
        ns = gslot[new]
        first_fc = fc[f]
        src, dst = col("src", dtype=object), col("dst", dtype=object)
        sport, dport = col("sport", 0, np.int64), col("dport", 0, np.int64)
        self.client[ns] = np.where(first_fc, src[f], dst[f])
        self.server[ns] = np.where(first_fc, dst[f], src[f])
        ints["client_port"][ns] = np.where(first_fc, sport[f], dport[f])
        ints["server_port"][ns] = np.where(first_fc, dport[f], sport[f])
        ints["stream"][ns] = sid[rows][f]
        self.is_tcp[ns] = proto[rows][f] == "tcp"
        self.reused[ns] = col("reused_ports", False, bool)[f]
        ints["first_frame"][ns] = frame[f]
        ints["start"][ns] = ts[f]
        ints["last_frame"][gslot] = frame[ends - 1]
        ints["end"][gslot] = ts[ends - 1]
        who = (~fc).astype(np.int64)      # 0 client, 1 server
        groups = len(starts)
        for name, weights in (("packets", None), ("bytes", plen)):
            per = np.bincount(seg * 2 + who, weights=weights, minlength=groups * 2).reshape(groups, 1, 2)
            self._add_count(name, np.rint(per.transpose(0, 2, 1)).astype(np.int64), [0], gslot)
        # the handshake: first SYN from the client, SYN-ACK from the server, handshake ACK
        phase = col("phase", dtype=object)
        seq = col("seq", 0, np.int64)
        for name, mask in (("syn", (phase == "syn") & fc), ("sa", (phase == "syn_ack") & ~fc),
                           ("ha", phase == "handshake_ack")):
            pos = first_rows(seg, mask, len(starts))
            take = (pos >= 0) & (ints[f"{name}_frame"][gslot] < 0)
            ints[f"{name}_frame"][gslot[take]] = frame[pos[take]]
            if name != "ha":
                ints[f"{name}_seq"][gslot[take]] = seq[pos[take]]
        # the state walk goes on from where each stream's earlier frames left it
        w = np.flatnonzero(self.is_tcp[slot])
        if len(w):
            walk(slot[w], flags[w], plen[w], fc[w], self.state, self.completeness, self.seen, self.hist,
                 self.hist_len)
        # per-direction counts of each analysis label and checksum verdict: rows are
        # of few kinds (label set, bad and offloaded verdicts), counted once per kind
        codes, sets = coded(packets["labels"])
        codes = codes[at]
        members = [set(str(v).split(";")) for v in sets] + [set()]    # code -1: no labels
        l4, ip = Verdicts(packets["l4_checksum"]), Verdicts(packets["ip_checksum"])
        hit = {verdict: (l4.any_of(verdict) | ip.any_of(verdict))[at] for verdict in ("bad", "offloaded")}
        kind = codes.astype(np.int64) * 4 + hit["bad"] * 2 + hit["offloaded"]
        kcodes, kinds = pd.factorize(kind)
        k_labels = [members[int(k) >> 2] for k in kinds]
        nk = len(kinds)
        key = (seg * 2 + who) * nk + kcodes
        per_kind = np.bincount(key, minlength=groups * 2 * nk).reshape(groups, 2, nk)
        resent = [i for i, m in enumerate(k_labels) if "retransmission" in m]
        for label in _label_names():
            self._add_count(label, per_kind, [i for i, m in enumerate(k_labels) if label in m], gslot)
        for verdict, bit in (("bad", 2), ("offloaded", 1)):
            self._add_count(f"{verdict}_checksums", per_kind, [i for i, k in enumerate(kinds) if int(k) & bit],
                            gslot)
        bytes_kind = np.bincount(key, weights=plen, minlength=groups * 2 * nk).reshape(groups, 2, nk)
        self._add_count("retransmitted_bytes", np.rint(bytes_kind).astype(np.int64), resent, gslot)
        vals = col("initial_rtt_s", dtype=float)
        known = ~np.isnan(vals)
        np.fmax.at(self.irtt, slot[known], vals[known])

    def table(self) -> pd.DataFrame:
        """The streams table of everything added so far, its columns in their schema dtypes.

        Texts that depend on a few values (port ranges, service names,
        history and connection state) are made once per distinct value.
        """
        if not self.n:
            return pd.DataFrame()
        ints = self.ints
        keys = np.where(self.is_tcp, 0, 1 << 40) + ints["stream"]
        order = np.argsort(keys, kind="stable")
        tcp = self.is_tcp[order]
        m = len(order)
        everywhere = np.zeros(m, dtype=bool)
        pk, by = self.counts["packets"][order], self.counts["bytes"][order]
        cport, sport_ = ints["client_port"][order], ints["server_port"][order]
        ranges = range_names(cport)
        served, at = np.unique(sport_ * 2 + ~tcp, return_inverse=True)
        service = np.array([service_name(int(x) >> 1, "udp" if x & 1 else "tcp") for x in served.tolist()],
                           dtype=object)[at]
        syn, sa, ha = (ints[k][order] for k in ("syn_frame", "sa_frame", "ha_frame"))
        has_syn, has_sa, has_ha = tcp & (syn >= 0), tcp & (sa >= 0), tcp & (ha >= 0)

        def integers(values, present=None):
            return pd.arrays.IntegerArray(np.asarray(values, dtype=np.int64).copy(),
                                          everywhere.copy() if present is None else ~present)

        def text(values):
            return pd.array(np.asarray(values, dtype=object), dtype="string")

        index = pd.RangeIndex(m)
        history, state = self._histories(order, tcp, pk, by)
        handshake = np.select([has_syn & has_sa & has_ha, has_sa, has_syn, tcp], [0, 1, 2, 3], -1)
        state_codes, state_names = pd.factorize(np.asarray(state, dtype=object))
        table = {
            "proto": categorical(np.where(tcp, 0, 1), ["tcp", "udp"], index),
            "stream": integers(ints["stream"][order]),
            "client": text(self.client[order]), "client_port": integers(cport), "server": text(self.server[order]),
            "server_port": integers(sport_), "service": text(service),
            "client_port_ephemeral": pd.arrays.BooleanArray(pd.notna(ranges), everywhere.copy()),
            "client_port_range": text(ranges),
            "client_packets": integers(pk[:, 0]), "server_packets": integers(pk[:, 1]),
            "client_bytes": integers(by[:, 0]), "server_bytes": integers(by[:, 1]),
            "first_frame": integers(ints["first_frame"][order]), "last_frame": integers(ints["last_frame"][order]),
            "start": pd.Series(pd.to_datetime(ints["start"][order], unit="ns", utc=True), index=index),
            "end": pd.Series(pd.to_datetime(ints["end"][order], unit="ns", utc=True), index=index),
            "duration_s": (ints["end"][order] - ints["start"][order]) / 1e9,
            "client_isn": integers(ints["syn_seq"][order], has_syn), "syn_frame": integers(syn, has_syn),
            "server_isn": integers(ints["sa_seq"][order], has_sa), "syn_ack_frame": integers(sa, has_sa),
            "handshake_ack_frame": integers(ha, has_ha),
            "handshake": categorical(handshake, ["complete", "syn_ack_seen", "syn_only", "not_captured"], index),
            "completeness": integers(self.completeness[order], tcp),
            "reused_ports": pd.arrays.BooleanArray(self.reused[order].astype(bool), ~tcp),
            "history": text(history),
            "conn_state": categorical(state_codes, [str(v) for v in state_names], index),
        }
        names = [(label, False) for label in _label_names()] + [("retransmitted_bytes", False),
                                                                ("bad_checksums", True),
                                                                ("offloaded_checksums", True)]
        for name, all_protos in names:
            counts = self.counts[name][order]
            for who, i in (("client", 0), ("server", 1)):
                table[f"{who}_{name}"] = integers(counts[:, i], None if all_protos else tcp)
        table["initial_rtt_s"] = np.where(tcp, self.irtt[order], np.nan)
        return pd.DataFrame(table, index=index, copy=False)

    def _histories(self, order: np.ndarray, tcp: np.ndarray, pk: np.ndarray, by: np.ndarray) -> tuple:
        """Each stream's history and connection state (streams in *order*), made once per distinct case."""
        sent, answered = pk[:, 0] > 0, pk[:, 1] > 0
        history = (np.where(sent, "D", "").astype(object) + np.where(answered, "d", "").astype(object))
        state = np.select([sent & answered, sent], ["SF", "S0"], "SHR").astype(object)
        rows = np.flatnonzero(tcp)
        if len(rows):
            s_ = order[rows]
            # one number per case: the history letters (4 bits each), its length, the two endpoint
            # states, and whether each side sent payload
            hist = self.hist[s_]
            key = np.zeros(len(rows), dtype=np.int64)
            for k in range(hist.shape[1]):
                key = key * 16 + hist[:, k]
            key = ((key * 16 + self.hist_len[s_]) * 8 + self.state[s_, 0]) * 8 + self.state[s_, 1]
            key = key * 4 + (by[rows, 0] > 0) * 2 + (by[rows, 1] > 0)
            cases, first, at = np.unique(key, return_index=True, return_inverse=True)
            texts, states = [], []
            for j in first.tolist():
                g = s_[j]
                text = "".join([_LETTERS[k] for k in self.hist[g, :self.hist_len[g]].tolist()])
                texts.append(text)
                states.append(conn_state(int(self.state[g, 0]), int(self.state[g, 1]), int(by[rows[j], 0]),
                                         int(by[rows[j], 1]), text))
            history[rows] = np.array(texts, dtype=object)[at]
            state[rows] = np.array(states, dtype=object)[at]
        return history.tolist(), state.tolist()
