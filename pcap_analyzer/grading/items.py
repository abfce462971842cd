"""One check per rubric item: a verdict (pass, warn, fail, n.a.), one line saying why, and its frames.

What the verdict counts for (fail, warn, or only reported) is the rubric's
business (:func:`.rubric.graded`); the checks here say what the capture shows.
"""
from __future__ import annotations

import ipaddress

import pandas as pd

from ..report.documents import checksum_facts
from ..vocabulary import EPHEMERAL_RANGES, TINY_ISN
from .answers import cause_counts
from .conversation import Conversation
from .rubric import FAIL, NA, PASS, WARN, Rubric

MOD32 = 1 << 32
PORT_RANGES = {name: f"{lo}-{hi}" for name, lo, hi in EPHEMERAL_RANGES}


def lab_server(c: Conversation, rubric: Rubric):
    if not rubric.server:
        return NA, "the rubric names no server", []
    from .server import parse_server

    host, port = parse_server(rubric.server)
    name = f" ({rubric.server_name})" if rubric.server_name else ""
    frame = [int(c.p.iloc[0]["frame"])]
    try:
        same = ipaddress.ip_address(c.server) == ipaddress.ip_address(host)
    except ValueError:
        same = False
    if same and (port is None or port == c.server_port):
        return PASS, f"the conversation is with {c.server_text}{name}, as the lab asks", frame
    return FAIL, f"the conversation is with {c.server_text}, not with {rubric.server}{name}", frame


def handshake(c: Conversation, rubric: Rubric):
    state = str(c.row["handshake"])
    syn, syn_ack, ack = (c.frame(c.row[k]) for k in ("syn_frame", "syn_ack_frame", "handshake_ack_frame"))
    frames = [int(f["frame"]) for f in (syn, syn_ack, ack) if f is not None]
    if state == "complete":
        cisn, sisn = int(c.row["client_isn"]), int(c.row["server_isn"])
        problems = []
        if int(syn_ack["ack"]) != (cisn + 1) % MOD32:
            problems.append(f"SYN-ACK ack {int(syn_ack['ack'])} is not client ISN + 1 = {(cisn + 1) % MOD32}")
        if int(ack["ack"]) != (sisn + 1) % MOD32:
            problems.append(f"ACK ack {int(ack['ack'])} is not server ISN + 1 = {(sisn + 1) % MOD32}")
        if problems:
            return FAIL, "; ".join(problems), frames
        return PASS, (f"SYN (frame {int(syn['frame'])}, seq {cisn}) -> SYN-ACK (frame {int(syn_ack['frame'])}, "
                      f"seq {sisn}, ack {int(syn_ack['ack'])} = client ISN + 1) -> ACK (frame {int(ack['frame'])}, "
                      f"ack {int(ack['ack'])} = server ISN + 1)"), frames
    if state == "syn_ack_seen":
        return FAIL, (f"SYN (frame {frames[0]}) and SYN-ACK (frame {frames[-1]}) captured, but not the client's "
                      "ACK that completes the handshake: the capture stopped early or was split over "
                      "several files"), frames
    if state == "syn_only":
        return FAIL, f"only the SYN (frame {frames[0]}): the server never answered in this capture", frames
    first = c.p.iloc[0]
    return FAIL, (f"no SYN or SYN-ACK: the capture starts in the middle of the conversation (first frame "
                  f"{int(first['frame'])}, flags {first['flags']}, relative seq {first['rel_seq']}); start "
                  "capturing before the connection opens"), [int(first["frame"])]


def random_isn(c: Conversation, rubric: Rubric):
    cisn, sisn = c.value("client_isn"), c.value("server_isn")
    frames = [int(f) for f in (c.value("syn_frame"), c.value("syn_ack_frame")) if f is not None]
    if cisn is None and sisn is None:
        return NA, "no SYN or SYN-ACK captured, so the initial sequence numbers are unknown", []
    known = {name: int(v) for name, v in (("client", cisn), ("server", sisn)) if v is not None}
    text = ", ".join(f"{name} ISN {v}" for name, v in known.items())
    if any(v == 0 for v in known.values()):
        return FAIL, f"{text}: an ISN of 0 is predictable (RFC 6528 asks for unguessable ISNs)", frames
    tiny = [name for name, v in known.items() if v < TINY_ISN]
    if tiny:
        return WARN, (f"{text}: the {' and '.join(tiny)} ISN is below {TINY_ISN:,}, not a random 32-bit number "
                      "(a local proxy or NAT numbering its own side?)"), frames
    if len(known) == 2 and cisn == sisn:
        return FAIL, f"{text}: both sides chose the same ISN", frames
    if len(known) == 1:
        return WARN, f"{text}; the other side's ISN was not captured", frames
    return PASS, f"{text}: non-zero and different, as random ISNs are", frames


def ephemeral_port(c: Conversation, rubric: Rubric):
    ranges = c.value("client_port_range")
    frame = [int(c.p.iloc[0]["frame"])]
    if c.value("client_port_ephemeral") and ranges:
        named = ", ".join(f"{r} ({PORT_RANGES.get(r, '?')})" for r in str(ranges).split(";"))
        return PASS, f"client port {c.client_port} is ephemeral: in the {named} range", frame
    return FAIL, (f"client port {c.client_port} is in no ephemeral range "
                  f"({', '.join(f'{k} {v}' for k, v in PORT_RANGES.items())}): a fixed port, or the roles "
                  "are not what the lab expects"), frame


def data_both_ways(c: Conversation, rubric: Rubric):
    cb, sb = int(c.row["client_bytes"]), int(c.row["server_bytes"])
    first_c = c.p.loc[c.data & c.from_client, "frame"].head(1).tolist()
    first_s = c.p.loc[c.data & ~c.from_client, "frame"].head(1).tolist()
    text = f"client sent {cb:,} bytes of payload, server {sb:,}"
    if cb and sb:
        return PASS, f"{text} (first data frames {first_c[0]} and {first_s[0]})", first_c + first_s
    missing = " and ".join(w for w, b in (("the client", cb), ("the server", sb)) if not b)
    return FAIL, f"{text}: no payload from {missing} in this capture", first_c + first_s


def upload(c: Conversation, rubric: Rubric):
    if not rubric.upload_bytes:
        return NA, "the rubric gives no upload size", []
    data = c.p[c.data & c.from_client & ~c.resent()]
    sent = int((data["rel_seq"] + data["payload_len"]).max() - data["rel_seq"].min()) if len(data) else 0
    frames = data["frame"].head(1).astype(int).tolist() + data["frame"].tail(1).astype(int).tolist()
    if sent >= rubric.upload_bytes:
        return PASS, (f"the client sent {sent:,} bytes (relative seq {int(data['rel_seq'].min())} to "
                      f"{int((data['rel_seq'] + data['payload_len']).max())}): the {rubric.upload_bytes:,}-byte "
                      "file and the request's headers"), frames
    return FAIL, (f"the client sent {sent:,} bytes, less than the {rubric.upload_bytes:,}-byte file: the upload "
                  "was cut short, or another file was uploaded"), frames


def capture_point(c: Conversation, rubric: Rubric, offloaded: dict | None, proxy: dict | None):
    found = [x for x in (offloaded, proxy) if x]
    if not found:
        mss = c.mss(of_client=False)
        return PASS, ("segments no larger than the MSS" + (f" of {mss} bytes" if mss else "")
                      + ", no sign of a local proxy or NAT"), []
    frames = sorted({f for x in found for f in x["frames"]})
    return FAIL, "; ".join(x["text"].split(" (capture with")[0].split(". The RTTs")[0] for x in found), frames


def teardown(c: Conversation, rubric: Rubric):
    p = c.p
    fins = {who: p[c.has["FIN"] & (c.from_client == is_client)]
            for who, is_client in (("client", True), ("server", False))}
    rsts = p[c.has["RST"]]
    acked = {}
    for who, f in fins.items():
        if f.empty:
            continue
        end = int(f.iloc[0]["next_rel_seq"]) if pd.notna(f.iloc[0]["next_rel_seq"]) else None
        other = p[(c.from_client != (who == "client")) & c.has["ACK"] & (p["frame"] > f.iloc[0]["frame"])]
        hit = other[other["rel_ack"] >= end] if end is not None else other.iloc[0:0]
        acked[who] = int(hit.iloc[0]["frame"]) if len(hit) else None
    fin_frames = [int(f.iloc[0]["frame"]) for f in fins.values() if len(f)]
    ack_frames = [v for v in acked.values() if v is not None]
    if len(rsts):
        r = rsts.iloc[0]
        who = "client" if bool(r["from_client"]) else "server"
        before = [w for w, f in fins.items() if len(f) and int(f.iloc[0]["frame"]) < int(r["frame"])]
        after = ("after FINs from " + " and ".join(before)) if before else "without a FIN first"
        if len(before) == 2:
            return WARN, (f"FIN both ways, then RST from the {who} (frame {int(r['frame'])}): a segment arrived "
                          "for a connection that end had already closed, and a reset answered it; the "
                          "teardown itself was orderly"), fin_frames + [int(r["frame"])]
        why = ("the client aborted the connection instead of closing it (a program closing a socket with "
               "unread data, or with SO_LINGER 0, does this; so do browsers dropping a connection they no "
               "longer need)" if who == "client" else
               "the server refused or abandoned the connection (e.g. it received data after it had closed)")
        return FAIL, (f"ended by RST from the {who} (frame {int(r['frame'])}) {after}: {why}; no orderly "
                      "FIN/ACK teardown"), fin_frames + [int(r["frame"])]
    if len(fin_frames) == 2 and len(ack_frames) == 2:
        return PASS, (f"FIN from client (frame {int(fins['client'].iloc[0]['frame'])}, ACKed in frame "
                      f"{acked['client']}) and from server (frame {int(fins['server'].iloc[0]['frame'])}, ACKed "
                      f"in frame {acked['server']})"), sorted(fin_frames + ack_frames)
    if len(fin_frames) == 2:
        return WARN, ("FIN both ways, but the ACK of the last FIN is not in the capture (it was stopped a "
                      "moment too early)"), fin_frames + ack_frames
    if fin_frames:
        who = "client" if len(fins["client"]) else "server"
        return FAIL, (f"only the {who} sent a FIN (frame {fin_frames[0]}): the capture stopped before the "
                      "connection was closed both ways"), fin_frames
    return FAIL, (f"no FIN or RST: the capture stopped before the connection closed (last frame "
                  f"{int(p.iloc[-1]['frame'])})"), [int(p.iloc[-1]["frame"])]


def retransmissions(c: Conversation, rubric: Rubric, table: pd.DataFrame):
    if not c.data.any():
        return NA, "no data segments, so nothing could be retransmitted", []
    if table.empty:
        return PASS, "no retransmitted segments: every segment was sent once", []
    return PASS, cause_counts(table) + "; each one's trigger in the retransmissions table", \
        table["frame"].astype(int).tolist()


def duplicate_acks(c: Conversation, rubric: Rubric):
    if not c.data.any():
        return NA, "no data segments, so no duplicate ACKs are expected", []
    dup = c.p[c.label("duplicate_ack")]
    if dup.empty:
        return PASS, "no duplicate ACKs: the receiver never had to ask for a segment again", []
    groups = [f"{len(g)} repeating ACK frame {int(of)} (ack {int(g.iloc[0]['rel_ack'])})"
              for of, g in dup.groupby("dup_ack_of", sort=True)]
    shown = "; ".join(groups[:4]) + (f"; ... {len(groups) - 4} more" if len(groups) > 4 else "")
    return PASS, f"{len(dup)} duplicate ACKs: {shown}", dup["frame"].astype(int).tolist()


def checksums(c: Conversation, rubric: Rubric):
    facts = checksum_facts(c.p)
    ip, l4 = c.p["ip_checksum"].astype("string"), c.p["l4_checksum"].astype("string")
    bad = c.p.loc[((ip == "bad") | (l4 == "bad")).fillna(False), "frame"].astype(int).tolist()
    off = c.p.loc[((ip == "offloaded") | (l4 == "offloaded")).fillna(False), "frame"].astype(int).tolist()
    if bad:
        return FAIL, facts["meaning"], bad
    if off:
        return PASS, facts["meaning"], off[:3]
    return PASS, (f"{facts['ip_good']} IP header and {facts['tcp_udp_good']} TCP/UDP checksums correct. "
                  f"{facts['meaning']}"), []
