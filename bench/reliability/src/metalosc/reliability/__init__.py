"""``metalosc.reliability``: the live daemon tried as a hostile peer would, measured.

Four stages, each against its own ``metalosc serve`` (:mod:`._suite`): a coverage-guided fuzz
(libFuzzer through atheris, seeded with hypothesis's grammar-aware packets), a flood from several
peers, faults (a corrupt bundle on reload, a worker killed or hung, a subscriber gone, the daemon
killed and restarted) and an amplification probe from strangers, on loopback and from peers in
network namespaces of its own. ``metalosc-reliability`` runs them and prints the table.

The fuzzer process must import the decoder under atheris's instrumentation, so nothing here
imports the stages until they are asked for: the public names are re-exported lazily
(``lazy_loader``, from the stub ``__init__.pyi`` that lists them), as ``metalosc.server`` does.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
