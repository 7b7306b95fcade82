"""`vodlake reconcile playback`: bronze rows = silver rows + quarantined rows + duplicates removed.

Each term is counted from the tables themselves, not from counters the pipeline kept: a bronze
row is a silver row's source (same Kafka partition and offset), or quarantined (same position),
or a removed duplicate (its event_id is in silver under another position). A row that silver
lost, or a row written twice to silver or quarantine, breaks the equation, and the command
exits 1. Run it when silver has caught up with bronze (after `vodlake stream playback --once`);
rows still on their way show up as unaccounted.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from vodlake.runtime import add_common_options
from vodlake.telemetry.reconcile import Reconciliation, reconcile_playback


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Check that every bronze row is accounted for: bronze = silver + quarantine + "
        "duplicates removed. Exits 1 when it does not hold."
    )
    parser.add_argument("what", choices=["playback"], help="the pipeline to reconcile")
    add_common_options(parser, env=False)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from vodlake.runtime import config_from, spark_from

    out = out if out is not None else sys.stdout
    cfg = config_from(args)
    spark = spark_from(args, cfg, "vodlake-reconcile")
    result = reconcile_playback(spark, cfg)
    out.write("reconcile playback: bronze = silver + quarantine + duplicates removed\n")
    out.write("\n".join(result.lines()) + "\n")
    return 0 if result.holds else 1


__all__ = ["Reconciliation", "configure", "reconcile_playback", "run"]
