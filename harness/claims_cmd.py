"""``memharness claims``: every claim the harness judges, each once: id, topic, the claim as the
seed words it, and the figures its rule reads."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List

HELP = "list every claim the harness judges: id, topic, text, the figures it uses"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                        help="output format (default: table)")


def main(args: argparse.Namespace) -> int:
    from harness.claims import all_claims

    claims: List[Dict[str, Any]] = [{"id": c.id, "topic": c.topic, "claim": c.text, "figures": list(c.figures)}
                                    for c in all_claims()]
    if args.format == "json":
        sys.stdout.write(json.dumps(claims, indent=2) + "\n")
    elif args.format == "markdown":
        sys.stdout.write("| id | topic | claim | figures |\n| --- | --- | --- | --- |\n")
        for c in claims:
            sys.stdout.write("| %s | %s | %s | %s |\n" % (c["id"], c["topic"], c["claim"].replace("|", "\\|"),
                                                           ", ".join(c["figures"])))
    else:
        for c in claims:
            sys.stdout.write("%s  [%s]\n    %s\n    figures: %s\n" % (c["id"], c["topic"], c["claim"],
                                                                      ", ".join(c["figures"])))
    return 0
