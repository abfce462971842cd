"""The rubric: which items are graded, how much each weighs, what a failure costs, and the lab's settings.

The default rubric grades the textbook's TCP lab (an HTTP POST upload captured
on the student's machine).  A teacher's variant is a TOML file
(:func:`load_rubric`; ``pcap_analyzer/rubrics/example.toml`` shows every key):

* ``[lab]``: the expected ``server`` (``ADDRESS`` or ``ADDRESS:PORT``) and its
  ``server_name`` (shown in feedback), the ``upload_bytes`` of the file the
  students upload, how many ``first_segments`` the lab asks about, ``alpha``
  of the EstimatedRTT, a ``title``;
* ``[items.NAME]``: ``enabled`` (false leaves the item out), ``severity``
  (``fail``: a failure fails the submission; ``warn``: a failure only warns;
  ``report``: shown as ``info``, never counted) and ``weight`` (its share of
  the score).

Every item is checked the same way whatever the rubric; the rubric only
decides what a finding counts for (:func:`graded`).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

PASS, WARN, FAIL, INFO, NA = "pass", "warn", "fail", "info", "n.a."
VERDICTS = (PASS, WARN, FAIL, INFO, NA)
SEVERITIES = ("fail", "warn", "report")


class RubricError(ValueError):
    """A rubric file that cannot be used (the message says which key and why)."""


@dataclass(frozen=True)
class Item:
    key: str
    passes: str           # what a pass means, for the docs and the feedback
    severity: str = "fail"
    weight: float = 1.0
    enabled: bool = True


# Every item there is, in the order shown; the severities are the default rubric's.
ITEMS: tuple[Item, ...] = (
    Item("conversation", "a TCP conversation to grade is in the capture"),
    Item("lab_server", "the conversation is with the server the lab names (n.a. when the rubric names none)"),
    Item("handshake", "complete three-way handshake: SYN, SYN-ACK with ack = client ISN + 1, "
                      "ACK with ack = server ISN + 1"),
    Item("random_isn", "initial sequence numbers look random: not 0, not tiny, not equal"),
    Item("ephemeral_port", "the client's port is an ephemeral one", severity="warn"),
    Item("data_both_ways", "payload sent by the client and by the server"),
    Item("upload", "the client uploaded at least the file's size (n.a. when the rubric gives none)"),
    Item("capture_point", "captured as the lab asks, on the wire of the student's machine: no "
                          "segmentation offload, no local proxy or NAT in between", severity="warn"),
    Item("teardown", "orderly teardown: FIN and its ACK both ways (reported, not graded, by default: "
                     "the lab does not ask for it)", severity="report"),
    Item("retransmissions", "retransmitted segments found, each with what triggered it", severity="report"),
    Item("duplicate_acks", "duplicate ACKs found, with the ACK each repeats", severity="report"),
    Item("checksums", "checksums right; offloaded ones explained, bad ones fail"),
)
ITEM_KEYS: tuple[str, ...] = tuple(i.key for i in ITEMS)

_LAB_KEYS = {"title": str, "server": str, "server_name": str, "upload_bytes": int, "first_segments": int,
             "alpha": float}


@dataclass(frozen=True)
class Rubric:
    """What is graded and how; ``Rubric()`` is the default textbook-lab rubric."""

    items: tuple[Item, ...] = ITEMS
    title: str = "TCP lab (HTTP POST upload)"
    server: str | None = None
    server_name: str | None = None
    upload_bytes: int | None = None
    first_segments: int = 6
    alpha: float = 0.125
    source: str = "default rubric"

    def item(self, key: str) -> Item:
        return next(i for i in self.items if i.key == key)

    @property
    def keys(self) -> tuple[str, ...]:
        """The enabled items, in order."""
        return tuple(i.key for i in self.items if i.enabled)


DEFAULT = Rubric()


def load_rubric(path: str | Path) -> Rubric:
    """The rubric in the TOML file at *path*; :class:`RubricError` says what is wrong with it."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise RubricError(f"{path}: no such rubric file") from None
    except OSError as exc:
        raise RubricError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: not a TOML file ({exc})") from None
    return rubric_from(doc, str(path))


def rubric_from(doc: dict, source: str = "rubric") -> Rubric:
    """The rubric a parsed TOML document describes (see the module's docstring)."""
    unknown = set(doc) - {"lab", "items"}
    if unknown:
        raise RubricError(f"{source}: unknown section {sorted(unknown)[0]!r} (sections: lab, items)")
    lab = doc.get("lab", {})
    if not isinstance(lab, dict):
        raise RubricError(f"{source}: [lab] must be a table")
    settings = {}
    for key, value in lab.items():
        want = _LAB_KEYS.get(key)
        if want is None:
            raise RubricError(f"{source}: unknown key lab.{key} (keys: {', '.join(_LAB_KEYS)})")
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or isinstance(value, bool):
            raise RubricError(f"{source}: lab.{key} must be a {want.__name__}, not {value!r}")
        settings[key] = value
    if "server" in settings:
        from .server import CheckError, parse_server

        try:
            parse_server(settings["server"])
        except CheckError as exc:
            raise RubricError(f"{source}: lab.server: {str(exc).split(': ', 1)[-1]}") from None
    if not 1 <= settings.get("first_segments", 6) <= 100:
        raise RubricError(f"{source}: lab.first_segments must be from 1 to 100")
    if not 0 < settings.get("alpha", 0.125) <= 1:
        raise RubricError(f"{source}: lab.alpha must be above 0 and at most 1")
    if settings.get("upload_bytes", 1) < 1:
        raise RubricError(f"{source}: lab.upload_bytes must be a positive number of bytes")

    items = {i.key: i for i in ITEMS}
    table = doc.get("items", {})
    if not isinstance(table, dict):
        raise RubricError(f"{source}: [items] must hold one table per item")
    for key, spec in table.items():
        if key not in items:
            raise RubricError(f"{source}: unknown item {key!r} (items: {', '.join(ITEM_KEYS)})")
        if not isinstance(spec, dict):
            raise RubricError(f"{source}: items.{key} must be a table (enabled, severity, weight)")
        changes = {}
        for name, value in spec.items():
            if name == "enabled" and isinstance(value, bool):
                changes[name] = value
            elif name == "severity" and value in SEVERITIES:
                changes[name] = value
            elif name == "weight" and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and value >= 0:
                changes[name] = float(value)
            elif name in ("enabled", "severity", "weight"):
                want = {"enabled": "true or false", "severity": " or ".join(SEVERITIES),
                        "weight": "a number, 0 or more"}[name]
                raise RubricError(f"{source}: items.{key}.{name} must be {want}, not {value!r}")
            else:
                raise RubricError(f"{source}: unknown key items.{key}.{name} (keys: enabled, severity, weight)")
        items[key] = replace(items[key], **changes)
    if not items["conversation"].enabled:
        raise RubricError(f"{source}: items.conversation cannot be disabled: without it there is nothing to grade")
    return Rubric(items=tuple(items[k] for k in ITEM_KEYS), source=source, **settings)


def graded(item: Item, verdict: str, evidence: str) -> tuple[str, str]:
    """What a finding counts for under *item*'s severity: (verdict, evidence)."""
    if verdict in (PASS, NA):
        return verdict, evidence
    if item.severity == "report":
        return INFO, evidence + " (reported, not graded)"
    if item.severity == "warn" and verdict == FAIL:
        return WARN, evidence
    return verdict, evidence


def overall_verdict(verdicts) -> str:
    """``fail`` if any item fails, else ``warn`` if any warns, else ``pass``; ``info`` and ``n.a.`` never count."""
    v = set(verdicts)
    return FAIL if FAIL in v else WARN if WARN in v else PASS


def score(rubric: Rubric, verdicts: dict[str, str]) -> float | None:
    """Percent of the graded weight earned: a pass earns an item's weight, a warning half of it;
    ``n.a.`` and reported items are left out. None when nothing is graded."""
    earned = total = 0.0
    for key, verdict in verdicts.items():
        item = rubric.item(key)
        if verdict in (NA, INFO) or item.severity == "report" or not item.weight:
            continue
        total += item.weight
        earned += item.weight * {PASS: 1.0, WARN: 0.5}.get(verdict, 0.0)
    return round(100 * earned / total, 1) if total else None
