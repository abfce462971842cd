#!/usr/bin/env python3
"""Rewrite the column and label reference in docs/columns.md from pcap_analyzer.schema and pcap_analyzer.vocabulary.

    python scripts/columns_doc.py          # rewrite docs/columns.md in place
    python scripts/columns_doc.py --check  # exit 1 if docs/columns.md is out of date
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pcap_analyzer import schema  # noqa: E402
from pcap_analyzer.vocabulary import LABELS, STREAM_COUNTED  # noqa: E402

REFERENCE = os.path.join(os.path.dirname(__file__), "..", "docs", "columns.md")
START, END = "<!-- columns:start -->", "<!-- columns:end -->"


def reference() -> str:
    out = ["## Packets table (`analysis.packets`, `pcapan packets`)", "",
           "| column | dtype | meaning |", "|---|---|---|"]
    out += [f"| `{c.name}` | {c.dtype} | {c.meaning} |" for c in schema.PACKET_COLUMNS]
    out += ["", "## Streams table (`analysis.streams`, `pcapan streams`)", "",
            "| column | dtype | meaning |", "|---|---|---|"]
    for c in schema.STREAM_COLUMNS:
        if c.name.startswith(("client_", "server_")) and c.name.split("_", 1)[1] in STREAM_COUNTED:
            continue
        out.append(f"| `{c.name}` | {c.dtype} | {c.meaning} |")
    out.append("| `client_<label>`, `server_<label>` | Int64 | packets from that side carrying each TCP "
               "analysis label (e.g. `client_retransmission`, `server_duplicate_ack`) |")
    out += ["", "## Labels (column `labels`)", "", "| label | meaning | Wireshark |", "|---|---|---|"]
    def shown(label) -> str:
        if label.wireshark:
            return f"`{label.wireshark}`"
        return f"pcapan's own (tshark: `{label.wireshark_shows}`)" if label.wireshark_shows else "pcapan's own"

    out += [f"| `{label.name}` | {label.meaning} | {shown(label)} |" for label in LABELS]
    return "\n".join(out)


def main() -> int:
    text = open(REFERENCE).read()
    head, rest = text.split(START, 1)
    _old, tail = rest.split(END, 1)
    new = f"{head}{START}\n{reference()}\n{END}{tail}"
    if "--check" in sys.argv:
        if new != text:
            print("docs/columns.md is out of date: run python scripts/columns_doc.py")
            return 1
        return 0
    open(REFERENCE, "w").write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
