"""The rule registry: every rule, in the order it runs.

Adding a rule means writing its module and adding one line here.  A rule
may read columns added by rules above it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Rule, RuleContext
from .checksums import Checksums
from .decoding import DecodeLabels
from .phase import Phase
from .sequence import SequenceAnalysis

REGISTRY: tuple[Rule, ...] = (
    Phase(),
    SequenceAnalysis(),
    DecodeLabels(),
    Checksums(),
)


def all_labels() -> dict[str, str]:
    """Every label any registered rule can emit, with its meaning."""
    out: dict[str, str] = {}
    for rule in REGISTRY:
        out.update(rule.labels)
    return out


def apply(packets: pd.DataFrame, rules: tuple[Rule, ...] = REGISTRY) -> pd.DataFrame:
    """Run *rules* over the packet table; return it with labels and new columns."""
    ctx = RuleContext(packets)
    for rule in rules:
        rule.run(ctx)
    out = packets.copy(deep=False)
    for name, values in ctx.added.items():
        if isinstance(values, np.ndarray) and values.dtype == object:
            # text stays object during the analysis (see decode.TEXT_FIELDS)
            values = pd.Series(values, index=out.index, dtype=object)
        out[name] = values
    out["labels"] = ctx.labels_column()
    return out


__all__ = ["REGISTRY", "Rule", "RuleContext", "all_labels", "apply"]
