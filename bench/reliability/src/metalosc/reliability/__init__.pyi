"""Types of ``metalosc.reliability``'s public names, and where each lives (read by mypy, and by
``lazy_loader.attach_stub`` to import each module on first use)."""

from ._suite import (
    STAGES as STAGES,
    Row as Row,
    amplification_stage as amplification_stage,
    faults_stage as faults_stage,
    flood_stage as flood_stage,
    fuzz_stage as fuzz_stage,
    print_table as print_table,
)
