"""The daemon and the quality report must mean the same thing by tension and by "the bass".

Training never imports the server, and the daemon never imports training at module load (it would
pull in TensorFlow), so the two places that place latents along the tension vector and that
choose how many bass candidates to decode keep their own copy of a number or a formula. These
tests hold the copies equal: what `metalosc-train quality` calibrates is what the daemon plays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from metalosc.server import Generator, MusicState, Settings
from metalosc.server._generation import TENSION_PUSH as SERVER_TENSION_PUSH
from metalosc.training import BASS_CANDIDATES
from metalosc.training._generate import TENSION_PUSH, apply_tension


class LatentsOnly:
    """What ``Generator.sample`` reads of a runner."""

    instrument = "drums"
    z_size = 5
    tension_vector = np.array([0.5, -1.0, 2.0, 0.0, 0.25])

    def sample_z(self, n: int, rng: np.random.Generator) -> Any:
        return rng.standard_normal((n, self.z_size))


def test_the_daemon_decodes_as_many_bass_candidates_as_quality_measures() -> None:
    assert Settings().bass_candidates == BASS_CANDIDATES
    generator = Generator({}, {}, MusicState())
    assert generator.bass_candidates == BASS_CANDIDATES


@pytest.mark.parametrize("tension", [0.0, 0.3, 0.5, 1.0])
def test_the_daemon_places_latents_where_quality_calibrates_them(tension: float) -> None:
    assert SERVER_TENSION_PUSH == TENSION_PUSH
    runner = LatentsOnly()
    generator = Generator(
        {"drums": runner},  # type: ignore[dict-item]
        {},
        MusicState(tension=tension),
        seed=3,
        tension_spread=0.0,  # every latent exactly at the requested tension
    )
    placed = generator.sample("drums", 8)
    sampled = runner.sample_z(8, np.random.default_rng(3))  # the same draws the generator made
    expected = apply_tension(sampled, runner.tension_vector, tension)
    np.testing.assert_allclose(placed, expected, rtol=1e-5, atol=1e-5)
