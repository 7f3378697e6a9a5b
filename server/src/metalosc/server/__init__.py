"""``metalosc.server``: the trio daemon that plays MusicVAE phrases to OSC subscribers.

The data path, module by module (``docs/architecture.md`` draws it):
UDP datagram (``_udp``) → typed message (``metalosc.protocol``) → :class:`Controller` →
:class:`Controls` / :class:`BeatClock` / :class:`Transport` / :class:`Conductor` → at every
2-bar slot the conductor picks from the :class:`PhraseBuffer`\\ s that the :class:`Generator`
keeps full through the :class:`ModelRunner`\\ s (one model per worker process) → cues
(``_cues``) → timetagged OSC bundles through the :class:`Outbox`.

Modules are private; the public names are re-exported here, each imported on first use
(``lazy_loader``, from the stub ``__init__.pyi`` that lists them): a model worker process imports
this package, and should not pay for the daemon's sockets, metrics and discovery to decode. Test
support is in :mod:`metalosc.server.testing`.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
