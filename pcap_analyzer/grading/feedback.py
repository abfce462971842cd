"""A short markdown note per submission: the verdicts, the answers, and what to look at again in Wireshark.

Text from the capture (file names, addresses shown as found) is data: every
table cell has its markdown specials escaped.
"""
from __future__ import annotations

import re

from .conversation import wireshark_filter

# what would turn text into markup inside a table cell: emphasis, code, links, HTML, the cell's end
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<|~])")
_WHERE_TO_LOOK = {
    "conversation": "Statistics > Conversations > TCP: the upload is the conversation with the most bytes",
    "lab_server": "the lab's server is the destination of the SYN",
    "handshake": "start capturing before you open the connection, and stop after the answer",
    "random_isn": "Edit > Preferences > Protocols > TCP: untick 'Relative sequence numbers' to see raw ISNs",
    "ephemeral_port": "the client port is the SYN's source port",
    "data_both_ways": "the POST goes from you to the server, the answer comes back",
    "upload": "upload the whole file; the POST's last segment carries its end",
    "capture_point": "capture on the machine's real interface with offload off, outside any VM or proxy",
    "teardown": "keep capturing until both FINs are acknowledged",
    "retransmissions": "filter tcp.analysis.retransmission to list them",
    "duplicate_acks": "filter tcp.analysis.duplicate_ack to list them",
    "checksums": "checksums offloaded to the network card are not errors",
}


def text(value) -> str:
    """*value* safe inside a markdown table cell."""
    return _MD_SPECIAL.sub(r"\\\1", str(value)).replace("\r", " ").replace("\n", " ")


def feedback_markdown(result) -> str:
    """The note for one graded submission (a :class:`pcap_analyzer.check.CheckResult`)."""
    facts = result.facts
    lines = [f"# Feedback: {text(result.file)}", "",
             f"Overall: **{facts['overall']}**" + (f", score {facts['score']}%" if facts.get("score") is not None
                                                  else "")
             + f" ({text(facts.get('rubric', 'default rubric'))}).", ""]
    if facts.get("conversation") not in (None, "none"):
        lines += [f"Graded: {text(facts['conversation'])}, {text(facts['client'])} -> {text(facts['server'])}.", ""]
    for w in facts.get("warnings", []):
        lines.append(f"- Warning: {text(w)}")
    if facts.get("warnings"):
        lines.append("")
    lines += ["## Verdicts", "", "| item | verdict | why |", "|---|---|---|"]
    for _, r in result.rubric.iterrows():
        lines.append(f"| {r['item']} | {r['verdict']} | {text(r['evidence'])} |")
    lines += ["", "## Answers", "", "| question | answer |", "|---|---|"]
    for _, r in result.answers.iterrows():
        lines.append(f"| {text(r['question'])} | {text(r['answer'])} |")
    look = [(r["item"], r["verdict"], [int(f) for f in r["frames"].split(", ") if f.isdigit()])
            for _, r in result.rubric.iterrows() if r["verdict"] in ("fail", "warn")]
    lines += ["", "## Look again in Wireshark", ""]
    if not look:
        lines.append("Nothing to fix. To review the graded conversation, type the display filter "
                     f"`{result.stream_filter()}`." if result.stream is not None else "Nothing to review.")
    for item, verdict, frames in look:
        flt = wireshark_filter(frames) or result.stream_filter()
        lines.append(f"- **{item}** ({verdict}): type the filter `{flt}`; {_WHERE_TO_LOOK.get(item, '')}.")
    return "\n".join(lines) + "\n"


def error_markdown(file: str, error: str) -> str:
    """The note for a submission that could not be graded."""
    return (f"# Feedback: {text(file)}\n\nNot graded: {text(error)}.\n\nHand in the capture file Wireshark "
            "saved (File > Save As, pcapng), not a link, a shortcut or another document.\n")


def feedback_name(file: str) -> str:
    """A file name for *file*'s note: its path with separators as ``__``, ending in ``.md``."""
    name = re.sub(r"[\\/]+", "__", file.strip().lstrip("/\\")).lstrip(".") or "submission"
    return re.sub(r"[\x00-\x1f:*?\"<>|]", "_", name) + ".md"
