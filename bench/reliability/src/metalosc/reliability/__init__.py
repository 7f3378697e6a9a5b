"""``metalosc.reliability``: the live daemon tried as a hostile peer would, measured.

Four stages, each against its own ``metalosc serve`` (:mod:`._suite`): a coverage-guided fuzz
(libFuzzer through atheris, seeded with hypothesis's grammar-aware packets), a flood from several
peers, faults (a corrupt bundle on reload, a worker killed or hung, a subscriber gone, the daemon
killed and restarted) and an amplification probe from strangers, on loopback and from peers in
network namespaces of its own. ``metalosc-reliability`` runs them and prints the table.

The fuzzer process must import the decoder under atheris's instrumentation, so nothing here
imports the stages until they are asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._suite import (
        STAGES,
        Row,
        amplification_stage,
        faults_stage,
        flood_stage,
        fuzz_stage,
        print_table,
    )

__all__ = [
    "STAGES",
    "Row",
    "amplification_stage",
    "faults_stage",
    "flood_stage",
    "fuzz_stage",
    "print_table",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _suite

        return getattr(_suite, name)
    raise AttributeError(name)
