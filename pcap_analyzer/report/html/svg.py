"""The ladder diagram (:class:`pcap_analyzer.ladder.Ladder`) as inline SVG.

Colours and sizes are SVG presentation attributes (``stroke``, ``fill``,
``font-size`` ...), never ``style`` attributes, so the page's
Content-Security-Policy lets them through; the page's stylesheet only adds
hover and selection.  Every text from the capture goes through :func:`esc`.
"""
from __future__ import annotations

import math
from html import escape

from ...ladder import (ACK_COLOUR, BRACKET_X, CLIENT_X, CLOSE_COLOUR, CONNECT_COLOUR, DATA_COLOUR, RESET_COLOUR,
                       SERVER_X, TIME_X, Ladder)

HEAD = 9            # arrowhead length
LIFELINE = "#8a93a3"


def esc(value) -> str:
    """Text (from a capture or anywhere) made safe for an HTML or SVG text node or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def ladder_svg(lad: Ladder) -> str:
    """The ``<svg>`` of a laid-out ladder: one ``g.arrow`` per frame (``data-frame``, ``data-from``)."""
    w, h = lad.width, lad.height
    out = [f'<svg class="ladder" xmlns="http://www.w3.org/2000/svg" width="{_n(w)}" height="{_n(h)}" '
           f'viewBox="0 0 {_n(w)} {_n(h)}" role="img" '
           f'aria-label="{esc(f"Ladder diagram of TCP stream {lad.stream}")}">']
    out.append(f'<rect x="0" y="0" width="{_n(w)}" height="{_n(h)}" fill="#ffffff"/>')
    for x, title, addr in ((CLIENT_X, "Client", lad.client), (SERVER_X, "Server", lad.server)):
        out.append(f'<text class="endpoint-title" x="{x}" y="22" text-anchor="middle" fill="#1d2430">{title}</text>')
        out.append(f'<text class="endpoint-addr" x="{x}" y="40" text-anchor="middle" fill="#1d2430">'
                   f'{esc(addr)}</text>')
        out.append(f'<line x1="{x}" y1="50" x2="{x}" y2="{_n(h - 12)}" stroke="{LIFELINE}" stroke-width="2"/>')
    out.append(f'<text class="time-text" x="{TIME_X}" y="40" fill="#5b6575">frame  time (s)</text>')
    for e in lad.elisions:
        out.append('<g class="elided">')
        out.append(f'<rect x="{TIME_X}" y="{_n(e.y - 11)}" width="{_n(w - 2 * TIME_X)}" height="22" '
                   f'fill="#f1f3f6"/>')
        out.append(f'<text class="elided-text" x="{(CLIENT_X + SERVER_X) // 2}" y="{_n(e.y + 4)}" '
                   f'text-anchor="middle" fill="#5b6575">\u22ee {esc(e.text)} \u22ee</text>')
        out.append('</g>')
    for name, top, bottom in lad.phases:
        mid = (top + bottom) / 2
        out.append(f'<g class="phase"><path d="M{BRACKET_X - 8},{_n(top)} h8 V{_n(bottom)} h-8" fill="none" '
                   f'stroke="#5b6575" stroke-width="1.5"/><text x="{BRACKET_X + 8}" y="{_n(mid)}" '
                   f'transform="rotate(90 {BRACKET_X + 8} {_n(mid)})" text-anchor="middle" font-size="12.5" '
                   f'font-weight="700" fill="#5b6575">{esc(name)}</text></g>')
    for a in lad.arrows:
        out.append(_arrow(a, lad.captured_near))
    out.append("</svg>")
    return "".join(out)


def _arrow(a, captured_near) -> str:
    x1, x2 = a.start_x, a.end_x
    y1, y2 = a.send_y, a.arrive_y
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    # the head: a triangle whose tip touches the receiver's line
    bx, by = x2 - ux * HEAD, y2 - uy * HEAD
    px, py = -uy * 4.5, ux * 4.5
    head = f"{_n(x2)},{_n(y2)} {_n(bx + px)},{_n(by + py)} {_n(bx - px)},{_n(by - py)}"
    tx, ty, angle, anchor, above = a.text_place(captured_near)
    rotate = f' transform="rotate({_n(angle)} {_n(tx)} {_n(ty)})"' if abs(angle) > 0.05 else ""
    who = "client" if a.from_client else "server"
    title = f"frame {a.frame} ({who} \u2192 {'server' if a.from_client else 'client'}): {a.text}"
    if a.labels:
        title += " [" + ", ".join(a.labels) + "]"
    if a.explain:
        title += "\n" + a.explain
    parts = [f'<g class="arrow" data-frame="{a.frame}" data-from="{who}" tabindex="0">',
             f"<title>{esc(title)}</title>",
             f'<line class="hit" x1="{x1}" y1="{_n(y1)}" x2="{x2}" y2="{_n(y2)}"/>',
             f'<line class="shaft" x1="{x1}" y1="{_n(y1)}" x2="{_n(bx)}" y2="{_n(by)}" stroke="{a.colour}" '
             f'stroke-width="2"/>',
             f'<polygon points="{head}" fill="{a.colour}"/>',
             f'<text class="arrow-text" x="{_n(tx)}" y="{_n(ty - 5 if above else ty + 14)}" '
             f'text-anchor="{anchor}" fill="{a.colour}"'
             f'{rotate}>{esc(a.text)}</text>']
    if a.labels:
        parts.append(f'<text class="label-text" x="{SERVER_X + 12}" y="{_n(a.captured_y + 4)}" '
                     f'fill="{a.colour}">{esc(" + ".join(x.replace("_", " ") for x in a.labels))}</text>')
    parts.append(f'<text class="time-text" x="{TIME_X}" y="{_n(a.captured_y + 4)}" fill="#1d2430">'
                 f'<tspan class="frame-no">{a.frame}</tspan>  {a.time_s:.6f}</text>')
    parts.append("</g>")
    return "".join(parts)


_KINDS = (("SYN, SYN-ACK, handshake ACK", CONNECT_COLOUR), ("data", DATA_COLOUR), ("pure ACK", ACK_COLOUR),
          ("FIN", CLOSE_COLOUR), ("RST", RESET_COLOUR))


def legend_svg(lad: Ladder) -> str:
    """A one-line key: the arrows' colours by what a segment does, then the labels drawn."""
    items = list(_KINDS) + [(name.replace("_", " "), colour) for name, colour in lad.legend]
    x, y, parts = 4, 14, []
    rows = 1
    for text, colour in items:
        width = 34 + 7.2 * len(text)
        if x + width > lad.width:
            x, y, rows = 4, y + 20, rows + 1
        parts.append(f'<line x1="{_n(x)}" y1="{y - 4}" x2="{_n(x + 22)}" y2="{y - 4}" stroke="{colour}" '
                     f'stroke-width="3"/><text x="{_n(x + 27)}" y="{y}" font-size="12.5" fill="{colour}">'
                     f'{esc(text)}</text>')
        x += width
    height = 20 * rows + 2
    return (f'<svg class="legend-svg" xmlns="http://www.w3.org/2000/svg" width="{_n(lad.width)}" height="{height}" '
            f'viewBox="0 0 {_n(lad.width)} {height}" role="img" aria-label="key to the colours">'
            + "".join(parts) + "</svg>")
