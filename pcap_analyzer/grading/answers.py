"""The lab's questions answered as a good student would, raw and relative numbers side by side.

Every answer is a row: ``question``, ``raw``, ``relative``, ``answer`` (one
line that says how it was found) and ``frames``; :func:`answers` also returns
the flat values the grade sheet carries.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..explain import resend_cause
from ..tables import kbit_per_s
from .conversation import Conversation, frames_text, some
from .rubric import Rubric

MOD32 = 1 << 32
ANSWER_COLUMNS = ["question", "raw", "relative", "answer", "frames"]
SEGMENT_COLUMNS = ["segment", "frame", "seq", "rel_seq", "len_bytes", "tcp_header_bytes", "segment_bytes",
                   "sent_s", "ack_frame", "ack_s", "rtt_s", "estimated_rtt_s"]
RETRANSMISSION_COLUMNS = ["frame", "time_rel_s", "sender", "rel_seq", "seq", "len_bytes", "label", "cause",
                          "trigger", "original_frame", "since_original_s", "dup_ack_frames"]

# What each value of explain.resend_cause() means, in the order counts are given.
CAUSES = {
    "fast": "by fast retransmission after duplicate ACKs",
    "recovery": "resent in loss recovery after duplicate or partial ACKs",
    "timeout": "after a retransmission timeout",
    "spurious": "spurious (the receiver had already acknowledged it)",
    "duplicate": "duplicate in the capture (the same segment recorded twice at the same instant, not resent)",
    "resent": "sent again with no earlier copy awaiting an ACK in the capture",
    "early": "sent again sooner than one round trip, unasked",
}
RESENT_ON_THE_WIRE = ("fast", "recovery", "timeout", "spurious", "resent", "early")


# --- the first data segments ------------------------------------------------------

def first_segment_rows(c: Conversation, rubric: Rubric) -> pd.DataFrame:
    """The client's first data segments the lab asks about (resends left out), as packets rows."""
    return c.p[c.data & c.from_client & ~c.resent()].head(rubric.first_segments)


def first_segments(c: Conversation, rubric: Rubric) -> pd.DataFrame:
    """The client's first data segments (as many as the lab asks), the first ACK covering each, RTTs
    and the EstimatedRTT (``(1 - alpha) * EstimatedRTT + alpha * SampleRTT``, from the first sample)."""
    p = c.p
    segs = first_segment_rows(c, rubric)
    acks = p[~c.from_client & c.has["ACK"] & p["rel_ack"].notna()]
    rows, estimated = [], None
    for k, (_, s) in enumerate(segs.iterrows(), start=1):
        end = int(s["rel_seq"]) + int(s["payload_len"])
        covering = acks[(acks["frame"] > s["frame"]) & (acks["rel_ack"] >= end)]
        ack = covering.iloc[0] if len(covering) else None
        rtt = float(ack["time_rel_s"] - s["time_rel_s"]) if ack is not None else None
        if rtt is not None:
            estimated = rtt if estimated is None else (1 - rubric.alpha) * estimated + rubric.alpha * rtt
        h = c.wire.get(int(s["frame"]))
        rows.append({"segment": k, "frame": int(s["frame"]), "seq": s["seq"], "rel_seq": s["rel_seq"],
                     "len_bytes": s["payload_len"],
                     "tcp_header_bytes": h.tcp_header_len if h else None,
                     "segment_bytes": h.tcp_header_len + int(s["payload_len"]) if h else None,
                     "sent_s": float(s["time_rel_s"]),
                     "ack_frame": None if ack is None else int(ack["frame"]),
                     "ack_s": None if ack is None else float(ack["time_rel_s"]),
                     "rtt_s": rtt, "estimated_rtt_s": estimated if rtt is not None else None})
    out = pd.DataFrame(rows, columns=SEGMENT_COLUMNS)
    ints = ("segment", "frame", "seq", "rel_seq", "len_bytes", "tcp_header_bytes", "segment_bytes", "ack_frame")
    return out.astype({**{k: "Int64" for k in ints},
                       **{k: "float64" for k in ("sent_s", "ack_s", "rtt_s", "estimated_rtt_s")}})


# --- retransmissions ------------------------------------------------------------------

def retransmission_table(c: Conversation) -> pd.DataFrame:
    """One row per resent segment: its cause (from :func:`pcap_analyzer.explain.resend_cause`, the one
    place that decides it) and the evidence of that cause."""
    p = c.p
    causes = resend_cause(p)
    dup = c.label("duplicate_ack")
    rows = []
    for i in np.flatnonzero(causes.notna().to_numpy()):
        r = p.iloc[i]
        cause = str(causes.iloc[i])
        sender_is_client = bool(r["from_client"])
        label = next((n for n in ("spurious_retransmission", "fast_retransmission", "retransmission")
                      if n in c.labels.iloc[i]), "")
        original, since = r["rto_frame"], r["rto_s"]
        # the receiver's duplicate ACKs before this resend (and after the copy it resends) asking for
        # data up to here: the evidence of a resend they asked for
        asks = p[dup & (c.from_client != sender_is_client) & (p["frame"] < r["frame"])
                 & (p["rel_ack"] <= r["rel_seq"])]
        if pd.notna(original):
            asks = asks[asks["frame"] > original]
        if cause == "fast":
            exact = asks[asks["rel_ack"] == r["rel_seq"]]
            # Wireshark 4.4 and later: a resend into a hole the SACK blocks of the latest run of
            # duplicate ACKs leave (their ACK number is below the resent bytes)
            asks = exact if len(exact) or not len(asks) else asks[asks["dup_ack_of"] == asks["dup_ack_of"].iloc[-1]]
        elif cause == "recovery" and pd.notna(r["asked_frame"]):
            asks = asks[asks["frame"] <= r["asked_frame"]]
        asked = asks["frame"].astype(int).tolist() if cause in ("fast", "recovery") else []
        rows.append({"frame": int(r["frame"]), "time_rel_s": float(r["time_rel_s"]),
                     "sender": "client" if sender_is_client else "server", "rel_seq": r["rel_seq"],
                     "seq": r["seq"], "len_bytes": r["payload_len"], "label": label, "cause": cause,
                     "trigger": _trigger(cause, asks, asked, r["copy_frame"], r["since_copy_s"],
                                         r["asked_frame"], r["rel_seq"]),
                     "original_frame": original, "since_original_s": since, "dup_ack_frames": some(asked, 6)})
    out = pd.DataFrame(rows, columns=RETRANSMISSION_COLUMNS)
    return out.astype({"frame": "Int64", "rel_seq": "Int64", "seq": "Int64", "len_bytes": "Int64",
                       "original_frame": "Int64", "since_original_s": "float64", "time_rel_s": "float64"})


def _trigger(cause: str, asks: pd.DataFrame, asked: list[int], copy, since, asker, seq=None) -> str:
    if cause == "fast":
        of = asks["dup_ack_of"].dropna().astype(int).unique().tolist()
        text = (f"{len(asked)} duplicate ACKs asked for it (frames {some(asked, 6)}"
                + (f", repeating ACK frame {of[0]}" if of else "") + ")")
        if len(asks) and asks["rel_ack"].iloc[-1] != seq:
            text = (f"{len(asked)} duplicate ACKs of relative {asks['rel_ack'].iloc[-1]} (frames {some(asked, 6)}"
                    + (f", repeating ACK frame {of[0]}" if of else "") + ") whose SACK blocks leave it missing")
        return text

    if cause == "recovery" and not asked:
        return (f"loss recovery after the receiver's partial ACK (frame {int(asker)}), which reports what is "
                "missing")
    if cause == "recovery":
        return (f"loss recovery after the receiver's duplicate ACKs (frames {some(asked, 6)}), "
                "which report what is missing")
    if cause == "timeout":
        return f"retransmission timeout: no ACK {float(since):.3f} s after the earlier copy (frame {int(copy)})"
    if cause == "early":
        return f"sent again {float(since):.3f} s after frame {int(copy)}, sooner than one round trip, unasked"
    if cause == "spurious":
        return "the receiver had already acknowledged this data"
    if cause == "duplicate":
        return (f"the same segment as frame {int(copy)}, recorded again at the same instant: a capture "
                "artefact, not a resend" if pd.notna(copy) else
                "the same segment recorded twice at the same instant: a capture artefact, not a resend")
    return "sent before; no earlier copy waiting for an ACK was captured"


def cause_counts(table: pd.DataFrame) -> str:
    """``N retransmitted segments (a fast ..., b after a timeout, ...)``: one text for the rubric and
    the answers alike."""
    resent = table[table["cause"] != "duplicate"]
    dups = int((table["cause"] == "duplicate").sum())
    counts = resent["cause"].value_counts()
    parts = [f"{int(counts[k])} {CAUSES.get(k, k)}" for k in CAUSES if k in counts]
    text = f"{len(resent)} retransmitted segment{'' if len(resent) == 1 else 's'}"
    if parts:
        text += f" ({', '.join(parts)})"
    if dups:
        text += f"; {dups} segment{'' if dups == 1 else 's'} recorded twice at the same instant ({CAUSES['duplicate']})"
    return text


# --- window, ACKs, throughput ------------------------------------------------------------

def window_answer(c: Conversation) -> tuple[dict, dict]:
    """The smallest window the server advertised (over the segments that advertise one: not a RST)
    and whether it throttled the sender."""
    p = c.p
    q = "minimum receive window advertised by the server; did it throttle the sender?"
    server = p[~c.from_client & p["window_size"].notna() & ~c.has["RST"]]
    if server.empty:
        return {"question": q, "raw": "", "relative": "", "answer": "no segment from the server advertises a window",
                "frames": ""}, {}
    low = server.loc[server["window_size"].idxmin()]
    throttle = p[(c.label("window_full") | c.label("zero_window"))]
    # a segment whose end reaches the window edge the server last advertised (ack + window)
    advertised = ~c.from_client & c.has["ACK"] & ~c.has["RST"]
    edge = (p["rel_ack"] + p["window_size"]).where(advertised).ffill()
    sent = c.data & c.from_client & edge.notna()
    at_edge = p[sent & (p["next_rel_seq"] >= edge)]
    flight = p.loc[c.data & c.from_client, "bytes_in_flight"].dropna()
    frames = throttle["frame"].astype(int).tolist() + at_edge["frame"].astype(int).tolist()
    if frames:
        why = []
        if len(throttle):
            why.append(f"window full / zero window in frames {some(throttle['frame'])}")
        if len(at_edge):
            why.append(f"{len(at_edge)} segments reached the advertised window edge (frames {some(at_edge['frame'])})")
        verdict = "yes: " + "; ".join(why)
    else:
        peak = f"; bytes in flight peaked at {int(flight.max()):,}" if len(flight) else ""
        verdict = f"no: no window_full or zero_window, no segment reached the window edge{peak}"
    rsts = int((~c.from_client & c.has["RST"]).sum())
    over = f"over the {len(server)} segments from the server that advertise one" + (
        f" (its {rsts} RST{'s' if rsts > 1 else ''} advertise none)" if rsts else "")
    row = {"question": q, "raw": int(low["window_size"]), "relative": "",
           "answer": f"{int(low['window_size']):,} bytes (frame {int(low['frame'])}), {over}; throttled: {verdict}",
           "frames": frames_text([int(low["frame"])] + frames)}
    return row, {"min_receiver_window": int(low["window_size"]), "receiver_throttled": bool(frames)}


def ack_answer(c: Conversation, offloaded: dict | None) -> tuple[dict, dict]:
    """The most common amount a server ACK newly acknowledges, in bytes and in segments."""
    p = c.p
    q = "how much does a typical ACK acknowledge? does the receiver ACK every other segment?"
    acks = p[~c.from_client & c.has["ACK"] & ~c.has["SYN"] & ~c.has["RST"] & p["rel_ack"].notna()]
    data = p[c.data & c.from_client & ~c.resent()]
    if acks.empty or data.empty:
        return {"question": q, "raw": "", "relative": "", "answer": "no ACK of client data in the capture",
                "frames": ""}, {}
    data_end = int((data["rel_seq"] + data["payload_len"]).max())
    covered = acks["rel_ack"].clip(upper=data_end).astype("float64")
    before = covered.cummax().shift(1)
    syn_next = p.loc[c.from_client & c.has["SYN"], "next_rel_seq"]
    before.iloc[0] = float(syn_next.iloc[0]) if len(syn_next) else float(data["rel_seq"].min())
    newly = (covered - before).dropna()
    newly = newly[newly > 0]
    if newly.empty:
        return {"question": q, "raw": "", "relative": "", "answer": "no ACK acknowledges new client data",
                "frames": ""}, {}
    # segment ends as captured, resends included (a resend may be the only captured copy)
    sent = p[c.data & c.from_client]
    ends = np.unique((sent["rel_seq"] + sent["payload_len"]).to_numpy(dtype="float64"))
    mss = offloaded["mss"] if offloaded else None
    counts = []
    for idx in newly.index:
        lo, hi = before[idx], covered[idx]
        counts.append(round((hi - lo) / mss) if mss else int(((ends > lo) & (ends <= hi)).sum()))
    table = pd.DataFrame({"bytes": newly.astype(int).to_numpy(), "segments": counts}, index=newly.index)
    typical = int(table["bytes"].mode().min())
    same = table[table["bytes"] == typical]
    segs = int(same["segments"].mode().min())
    share = len(same)
    delayed = segs >= 2
    unit = f"MSS-sized segments of {mss} bytes (offload: the captured segments are larger)" if mss else "segments"
    answer = (f"most often {typical:,} bytes = {segs} {unit if segs != 1 else unit.replace('segments', 'segment', 1)}"
              f" ({share} of {len(table)} ACKs of new data); "
              + ("yes: the receiver mostly ACKs every other segment (delayed ACK)" if delayed
                 else "no: the receiver mostly ACKs every segment"))
    frames = acks.loc[same.index, "frame"].astype(int).tolist()
    return ({"question": q, "raw": f"{typical}", "relative": f"{segs} segments", "answer": answer,
             "frames": frames_text(frames)},
            {"typical_acked_bytes": typical, "typical_acked_segments": segs, "delayed_ack": delayed})


THROUGHPUT_DEFINITION = ("payload bytes both ways over the connection's duration, from its first to its last "
                         "captured packet; pcapan report's kbit/s is the same figure")


def throughput_answer(c: Conversation) -> tuple[dict, dict]:
    """Throughput as :data:`THROUGHPUT_DEFINITION` says, the same figure ``pcapan report`` shows."""
    q = "throughput of the connection"
    total = int(c.row["client_bytes"]) + int(c.row["server_bytes"])
    duration = float(c.row["duration_s"])
    kbit = kbit_per_s(pd.Series([float(total)]), pd.Series([duration])).iloc[0]
    first, last = int(c.row["first_frame"]), int(c.row["last_frame"])
    if pd.isna(kbit):
        return ({"question": q, "raw": "", "relative": "", "frames": frames_text([first]),
                 "answer": f"{total:,} payload bytes in no measurable time"}, {})
    rate = kbit * 1000 / 8
    return ({"question": q, "raw": f"{rate:.0f}", "relative": "",
             "answer": (f"{rate:,.0f} bytes/s = {kbit:,.1f} kbit/s: {total:,} payload bytes "
                        f"({int(c.row['client_bytes']):,} from the client, {int(c.row['server_bytes']):,} from the "
                        f"server) in {duration:.6f} s, frame {first} to frame {last} ({THROUGHPUT_DEFINITION})"),
             "frames": frames_text([first, last])},
            {"throughput_bytes_per_s": round(rate)})


# --- the handshake's options ---------------------------------------------------------

def sack_answer(c: Conversation) -> tuple[dict, dict]:
    """Whether SACK is permitted: in the SYN and in the SYN-ACK (both must offer it)."""
    q = "is SACK permitted (SACK-permitted option in the SYN and the SYN-ACK)?"
    syn, syn_ack = c.value("syn_frame"), c.value("syn_ack_frame")
    said = {}
    for who, f in (("SYN", syn), ("SYN-ACK", syn_ack)):
        h = c.wire.get(int(f)) if f is not None else None
        if h is not None:
            said[who] = h.sack_permitted
    if not said:
        return {"question": q, "raw": "", "relative": "", "frames": "",
                "answer": "unknown: the SYN and SYN-ACK are not in the capture (or it was read from a pipe)"}, {}
    parts = [f"the {who} {'offers' if v else 'does not offer'} it" for who, v in said.items()]
    both = len(said) == 2 and all(said.values())
    verdict = ("yes: " if both else "no: " if len(said) == 2 or not all(said.values()) else "unknown: ")
    frames = [int(f) for f in (syn, syn_ack) if f is not None]
    return ({"question": q, "raw": " ".join(f"{k}={'yes' if v else 'no'}" for k, v in said.items()),
             "relative": "", "answer": verdict + ", ".join(parts), "frames": frames_text(frames)},
            {"sack_permitted": both if len(said) == 2 else ""})


# --- all of them --------------------------------------------------------------------------

def answers(c: Conversation, rubric: Rubric, segments: pd.DataFrame, retrans: pd.DataFrame,
            offloaded: dict | None, proxy: dict | None) -> tuple[pd.DataFrame, dict]:
    """The answers table and the grade sheet's values."""
    rows, key = [], {}

    def add(question, raw="", relative="", answer="", frames=""):
        rows.append({"question": question, "raw": raw, "relative": relative, "answer": answer, "frames": frames})

    first = frames_text([c.p.iloc[0]["frame"]])
    add("client IP address and TCP port", c.client_text, "", f"{c.client} port {c.client_port}", first)
    add("server IP address and TCP port", c.server_text, "",
        f"{c.server} port {c.server_port}" + (f" ({rubric.server_name})" if rubric.server_name else ""), first)
    syn, syn_ack = c.frame(c.row["syn_frame"]), c.frame(c.row["syn_ack_frame"])
    q_syn = "sequence number of the SYN; what marks it as a SYN?"
    if syn is not None:
        add(q_syn, int(syn["seq"]), int(syn["rel_seq"]),
            f"seq {int(syn['seq'])} (relative {int(syn['rel_seq'])}); the SYN flag is set (flags {syn['flags']})",
            frames_text([syn["frame"]]))
        key.update(client_isn=int(syn["seq"]), syn_frame=int(syn["frame"]))
    else:
        add(q_syn, answer="the SYN is not in the capture")
    q_sa = "SYN-ACK: sequence and acknowledgement numbers; how was the ack derived?"
    if syn_ack is not None:
        derived = (f"ack = client ISN + 1 = {int(c.row['client_isn'])} + 1 (the SYN takes one sequence number)"
                   if syn is not None else "ack = client ISN + 1 (the SYN itself is not captured)")
        add(q_sa, f"seq {int(syn_ack['seq'])} ack {int(syn_ack['ack'])}",
            f"seq {int(syn_ack['rel_seq'])} ack {int(syn_ack['rel_ack'])}",
            f"{derived}; SYN and ACK flags set (flags {syn_ack['flags']})", frames_text([syn_ack["frame"]]))
        key.update(server_isn=int(syn_ack["seq"]), syn_ack_seq=int(syn_ack["seq"]), syn_ack_ack=int(syn_ack["ack"]))
    else:
        add(q_sa, answer="the SYN-ACK is not in the capture")
    hs = [c.value(k) for k in ("syn_frame", "syn_ack_frame", "handshake_ack_frame")]
    key["handshake_frames"] = frames_text([f for f in hs if f is not None])
    row, extra = sack_answer(c)
    add(**row)
    key.update(extra)

    n = rubric.first_segments
    if len(segments):
        s0 = segments.iloc[0]
        add("first data segment from the client (the POST)", int(s0["seq"]), int(s0["rel_seq"]),
            f"frame {int(s0['frame'])}, seq {int(s0['seq'])} (relative {int(s0['rel_seq'])}), "
            f"{int(s0['len_bytes'])} bytes of payload, sent at {s0['sent_s']:.6f} s",
            frames_text([s0["frame"]]))
        rtts = segments["rtt_s"].dropna()
        est = segments["estimated_rtt_s"].dropna()
        add(f"first {n} data segments: sequence numbers, send and ACK times, sample RTT, EstimatedRTT "
            f"(alpha {rubric.alpha})",
            " ".join(str(int(v)) for v in segments["seq"]), " ".join(str(int(v)) for v in segments["rel_seq"]),
            f"{len(segments)} segments (table first_segments); sample RTTs "
            + ", ".join(f"{v * 1000:.3f}" for v in rtts) + " ms"
            + ("; EstimatedRTT after each: " + ", ".join(f"{v * 1000:.3f}" for v in est) + " ms" if len(est) else ""),
            frames_text(segments["frame"]))
        with_header = segments["segment_bytes"].dropna()
        lengths = ", ".join(str(int(v)) for v in segments["len_bytes"]) + " bytes of payload"
        if len(with_header) == len(segments):
            lengths += ("; with the TCP header: " + ", ".join(str(int(v)) for v in with_header) + " bytes ("
                        + ", ".join(sorted({str(int(v)) for v in segments["tcp_header_bytes"]})) + "-byte header)")
        add(f"lengths of the first {n} data segments (header plus payload)",
            " ".join(str(int(v)) for v in segments["len_bytes"]),
            " ".join(str(int(v)) for v in with_header), lengths, frames_text(segments["frame"]))
        key.update(first_segments_rel_seq=" ".join(str(int(v)) for v in segments["rel_seq"]),
                   first_segments_len=" ".join(str(int(v)) for v in segments["len_bytes"]),
                   first_segments_with_header=" ".join(str(int(v)) for v in with_header),
                   first_segments_sent_s=" ".join(f"{v:.6f}" for v in segments["sent_s"]),
                   first_segments_ack_s=" ".join("" if pd.isna(v) else f"{v:.6f}" for v in segments["ack_s"]),
                   sample_rtts_s=" ".join(f"{v:.6f}" for v in rtts),
                   estimated_rtts_s=" ".join(f"{v:.6f}" for v in est))
        if len(est):
            key["estimated_rtt_s"] = round(float(est.iloc[-1]), 9)
    else:
        add("first data segment from the client (the POST)", answer="the client sent no data in this capture")

    row, extra = window_answer(c)
    add(**row)
    key.update(extra)

    resent = retrans[retrans["cause"] != "duplicate"] if len(retrans) else retrans
    add("retransmitted segments", len(resent), "",
        cause_counts(retrans) + ("; relative seqs " + ", ".join(str(int(v)) for v in resent["rel_seq"].head(12))
                                 + (" ..." if len(resent) > 12 else "") if len(resent) else
                                 ": no segment was sent twice"),
        frames_text(retrans["frame"]) if len(retrans) else "")
    counts = retrans["cause"].value_counts() if len(retrans) else pd.Series(dtype=int)
    key.update(retransmitted_segments=len(resent), fast_retransmissions=int(counts.get("fast", 0)),
               recovery_retransmissions=int(counts.get("recovery", 0)),
               timeout_retransmissions=int(counts.get("timeout", 0)),
               duplicate_ack_count=int(c.label("duplicate_ack").sum()))

    row, extra = ack_answer(c, offloaded)
    add(**row)
    key.update(extra)
    row, extra = throughput_answer(c)
    add(**row)
    key.update(extra)
    add("where was the capture taken?", "", "",
        "; ".join(x["text"] for x in (offloaded, proxy) if x) or
        "on the wire of the student's machine: no segment larger than the MSS, no sign of a local proxy or NAT",
        frames_text(sorted({f for x in (offloaded, proxy) if x for f in x["frames"]})))

    out = pd.DataFrame(rows, columns=ANSWER_COLUMNS)
    out["raw"] = out["raw"].astype(str)
    out["relative"] = out["relative"].astype(str)
    return out, key
