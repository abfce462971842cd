"""Where the capture was taken: segmentation offload on the sender, a local proxy or NAT in between.

Both change what the lab's answers mean.  With segmentation offload (TSO/GSO)
a capture on the sending machine sees the super-segments TCP handed the
network card, several MSS long, before the card cut them: no screenshot of the
wire matches them.  Behind a local proxy or a VM's NAT the "server" that
answers the handshake is on the student's own machine: the RTTs are a few
hundred microseconds, its ISNs are those of the proxy, not of the server.
"""
from __future__ import annotations

import ipaddress

from ..vocabulary import INITIAL_TTLS, LOCAL_RTT_S, TINY_ISN
from .conversation import Conversation, some


def offload(c: Conversation) -> dict | None:
    """Segmentation offload seen on the client's data: segments larger than the MSS the server allows.

    None when there is none; else ``text`` (one line), ``frames``, ``largest``, ``mss``."""
    mss = c.mss(of_client=False) or c.mss(of_client=True)
    sent = c.p[c.data & c.from_client]
    if mss is None or sent.empty:
        return None
    big = sent[sent["payload_len"] > mss]
    if big.empty:
        return None
    largest = int(big["payload_len"].max())
    # Inside a super-segment the sender never waited for an ACK: it handed the card many MSS at once.
    text = (f"segmentation offload (TSO/GSO) on the capturing machine: {len(big)} of {len(sent)} data segments "
            f"from the client are larger than the MSS of {mss} bytes (up to {largest:,} bytes, "
            f"{largest / mss:.1f} MSS each, sent without waiting for an ACK in between); the capture shows "
            "them before the network card cut them into MSS-sized segments, so segment numbers, lengths and "
            "per-segment RTTs differ from what the wire carried (capture with offload off: "
            "ethtool -K IFACE tso off gso off)")
    return {"text": text, "frames": big["frame"].astype(int).tolist(), "largest": largest, "mss": mss,
            "count": int(len(big))}


def local_answer(c: Conversation) -> dict | None:
    """A local proxy or NAT answering for the server: None when nothing points to one; else ``text``, ``frames``.

    Signs: a tiny ISN (not random: a NAT numbering its own side), and, for a
    server at a global address, a handshake faster than a path off the
    machine allows and a reply whose TTL no router decremented."""
    signs, frames = [], []
    syn_ack = c.frame(c.value("syn_ack_frame"))
    for who, key in (("server", "server_isn"), ("client", "client_isn")):
        isn = c.value(key)
        if isn is not None and 0 < int(isn) < TINY_ISN:
            signs.append(f"the {who}'s ISN {int(isn):,} is tiny (a random one is below {TINY_ISN:,} once in "
                         f"{2 ** 32 // TINY_ISN:,})")
            frames += [int(f) for f in (c.value("syn_frame" if who == "client" else "syn_ack_frame"),) if f]
    strong = bool(signs)
    try:
        far = ipaddress.ip_address(c.server).is_global
    except ValueError:
        far = False
    near = []
    if far:
        rtt = c.value("initial_rtt_s")
        if rtt is not None and float(rtt) < LOCAL_RTT_S:
            near.append(f"the handshake took {float(rtt) * 1000:.3f} ms to {c.server}, a global address: "
                        "faster than any path off the local network")
        h = c.wire.get(int(syn_ack["frame"])) if syn_ack is not None else None
        if h is not None and h.ttl in INITIAL_TTLS:
            no_scale = " and offers no window scaling (as VirtualBox's NAT)" if 3 not in h.options else ""
            near.append(f"the SYN-ACK arrives with TTL {h.ttl}, unchanged by any router{no_scale}")
        if near and syn_ack is not None:
            frames.append(int(syn_ack["frame"]))
    if not strong and len(near) < 2:
        return None
    text = ("a local proxy or NAT (a VM's NAT, a VPN or antivirus proxy) answered for the server: "
            + "; ".join(signs + near)
            + ". The RTTs and the server's numbers are the proxy's, not the server's: capture on a machine "
              "with a direct path (or in the VM with bridged networking)")
    return {"text": text, "frames": sorted(set(frames))}


def summary(offloaded: dict | None, proxy: dict | None) -> list[str]:
    """The warnings these findings give (short, for the sheet's warnings column)."""
    out = []
    if offloaded:
        out.append(f"segmentation offload: {offloaded['count']} segments larger than the MSS of "
                   f"{offloaded['mss']} bytes (frames {some(offloaded['frames'], 4)})")
    if proxy:
        out.append("local proxy or NAT answered for the server: " + proxy["text"].split(": ", 1)[1].split(". ")[0])
    return out

