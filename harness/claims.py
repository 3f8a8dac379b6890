"""Claims: every claim of the folklore is one object, defined once in its topic's ``claims.py``.

A claim has an id, the claim as the seed words it, the figures it reads (``kind.column`` of the
topic's rows) and a rule: a pure function of the rows giving a verdict (confirmed / refuted /
partly / inconclusive) and the evidence, or None where the rows hold nothing the claim is about.
The CLI's topic verdicts, ``memharness report``, the per-version table built from asv results
and ``memharness claims`` all judge through these objects; nothing else words or tests a claim.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Tuple, Union

from harness.core.verdict import VERDICTS

if TYPE_CHECKING:  # pragma: no cover
    from harness.topic import Rows

# (verdict, evidence) or (verdict, evidence, key figure): the key figure is what a table cell of
# this claim shows beside the verdict (e.g. "2.3-5.6x"); without one, the cell shows the evidence
Judgement = Union[Tuple[str, str], Tuple[str, str, str]]


@dataclass
class Verdict:
    """One claim, judged by figures: the verdict and the evidence behind it, in words."""

    claim: str
    verdict: str  # one of VERDICTS
    evidence: str
    topic: str = ""
    claim_id: str = ""
    key: str = ""  # the key figure, for a table cell (the evidence where the rule names none)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError("verdict must be one of %s, got %r" % (VERDICTS, self.verdict))


@dataclass(frozen=True)
class Claim:
    id: str  # "containers.ratio": topic, a dot, a short name
    text: str  # the claim as the seed words it
    figures: Tuple[str, ...]  # the row columns the rule reads: "elements.ratio_alloc"
    rule: Callable[["Rows"], Optional[Judgement]] = field(compare=False, repr=False)

    @property
    def topic(self) -> str:
        return self.id.split(".", 1)[0]

    def judge(self, rows: "Rows") -> Optional[Verdict]:
        """The verdict on these rows, or None where they hold nothing this claim is about."""
        got = self.rule(rows)
        if got is None:
            return None
        verdict, evidence = got[0], got[1]
        key = str(got[2]) if len(got) > 2 else evidence
        return Verdict(self.text, verdict, evidence, topic=self.topic, claim_id=self.id, key=key)


def judge_all(claims: "List[Claim]", rows: "Rows") -> List[Verdict]:
    """The verdicts of every claim these rows say something about, in the claims' order."""
    return [v for v in (c.judge(rows) for c in claims) if v is not None]


def all_claims() -> Iterator[Claim]:
    """Every claim of every topic, topic by topic, in the registry's order."""
    from harness import registry

    for topic in registry.topics():
        yield from topic.claims
