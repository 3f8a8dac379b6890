"""The verdict rule: how many of the cases a claim covers agree with it."""
from __future__ import annotations

VERDICTS = ("confirmed", "refuted", "partly", "inconclusive")


def tally(agree: int, total: int) -> str:
    """confirmed when every case agrees, refuted when none does, partly in between, and
    inconclusive when there is no case to judge."""
    if total <= 0:
        return "inconclusive"
    if agree == total:
        return "confirmed"
    return "refuted" if agree == 0 else "partly"
