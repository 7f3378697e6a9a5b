"""Buffer and conductor suite: the musical decisions, pure (no I/O, no time, no models).

Phrases are built by the ``make_phrase`` fixture with known intensities and latents, so every
assertion names the exact phrase that must be chosen.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, strategies as st
from metalosc.protocol import INSTRUMENTS
from metalosc.runtime import CHORD_FIT, KEY_FIT, Phrase, slerp
from metalosc.server import (
    Conductor,
    ConductorError,
    Controls,
    PhraseBuffer,
)
from metalosc.server._buffer import PREFERENCE_SLACK
from metalosc.server._conductor import AGREEMENT, best_fitting

PhraseMaker = Callable[..., Phrase]


def test_tension_zero_picks_the_calmest_and_one_the_most_intense(make_phrase: PhraseMaker) -> None:
    buffer = PhraseBuffer("drums", depth=8)
    phrases = [make_phrase("drums", i) for i in (5, 1, 9, 3, 7)]
    buffer.add(phrases, tension=0.5)
    calm = buffer.pick(0.0)
    intense = buffer.pick(1.0)
    assert calm is not None
    assert calm.intensity == 1
    assert intense is not None
    assert intense.intensity == 9
    assert len(buffer) == 3  # picked phrases leave the pool


def test_latent_tension_vector_breaks_ties_between_equal_intensities(
    make_phrase: PhraseMaker,
) -> None:
    buffer = PhraseBuffer("guitar", depth=4, tension_vector=np.array([2.0, 0.0, 0.0, 0.0]))
    low = make_phrase("guitar", 4, z0=-1.0)
    high = make_phrase("guitar", 4, z0=1.0)
    buffer.add([low, high], tension=0.5)
    assert buffer.pick(1.0) is high
    assert buffer.pick(0.0) is low


def test_empty_pool_reuses_the_nearest_played_phrase_and_counts_an_underrun(
    make_phrase: PhraseMaker,
) -> None:
    buffer = PhraseBuffer("bass", depth=2)
    assert buffer.pick(0.5) is None  # nothing ever decoded
    phrases = [make_phrase("bass", 2), make_phrase("bass", 8)]
    buffer.add(phrases, tension=0.5)
    assert buffer.pick(0.0) is phrases[0]
    assert buffer.pick(1.0) is phrases[1]
    underruns = buffer.underruns
    assert buffer.pick(1.0) is phrases[1]
    assert buffer.underruns == underruns + 1


def test_overfull_pool_keeps_the_phrases_that_fit_the_tension(make_phrase: PhraseMaker) -> None:
    buffer = PhraseBuffer("drums", depth=2)  # capacity 4
    buffer.add([make_phrase("drums", i) for i in range(1, 7)], tension=1.0)
    assert len(buffer) == 4
    assert buffer.missing == 0
    kept = sorted(p.intensity for p in [buffer.pick(1.0) for _ in range(4)] if p is not None)
    assert kept == [3, 4, 5, 6]


def test_preferences_choose_among_the_phrases_near_the_tension_in_order(
    make_phrase: PhraseMaker,
) -> None:
    def fresh() -> tuple[PhraseBuffer, dict[int, Phrase]]:
        buffer = PhraseBuffer("drums", depth=8)
        phrases = {i: make_phrase("drums", i) for i in range(1, 11)}
        buffer.add(list(phrases.values()), tension=0.5)
        return buffer, phrases

    buffer, phrases = fresh()
    scores = dict(zip(phrases, buffer.scores(list(phrases.values())), strict=True))
    assert scores[10] - scores[9] <= PREFERENCE_SLACK < scores[10] - scores[8]
    assert buffer.pick(1.0, prefer=(lambda p: False,)) is phrases[10]  # nobody: tension alone
    buffer, phrases = fresh()
    assert buffer.pick(1.0, prefer=(lambda p: p.intensity <= 9,)) is phrases[9]
    buffer, phrases = fresh()
    calm_only = (lambda p: p.intensity <= 5,)
    assert buffer.pick(1.0, prefer=calm_only) is phrases[10]  # too far from the tension
    buffer, phrases = fresh()
    tiers = (lambda p: p.intensity == 3, lambda p: p.intensity == 9)
    assert buffer.pick(1.0, prefer=tiers) is phrases[9]  # the first test accepting a near one
    buffer, phrases = fresh()
    assert buffer.pick(1.0, prefer=calm_only, slack=math.inf) is phrases[5]  # any distance


def _conductor(make_phrase: PhraseMaker, tension: float = 0.5) -> Conductor:
    buffers = {i: PhraseBuffer(i, depth=8) for i in INSTRUMENTS}
    for level in (1, 3, 5, 7, 9):
        bass = tuple(make_phrase("bass", b) for b in (1, 5, 9))
        buffers["guitar"].add([make_phrase("guitar", level, accompaniment=bass)], tension)
        buffers["bass"].observe(bass)
        buffers["drums"].add([make_phrase("drums", level)], tension)
    return Conductor(buffers, Controls(tension=tension))


def test_conductor_follows_tension(make_phrase: PhraseMaker) -> None:
    conductor = _conductor(make_phrase)
    conductor.controls.tension = 0.0
    calm = conductor.next_phrases(0)
    conductor.controls.tension = 1.0
    conductor.change("phrase")  # what the controller does with a tension message
    intense = conductor.next_phrases(1)
    assert calm is not None
    assert intense is not None
    assert {i: p.intensity for i, p in calm.phrases.items()} == {
        "guitar": 1,
        "bass": 1,
        "drums": 1,
    }
    assert {i: p.intensity for i, p in intense.phrases.items()} == {
        "guitar": 9,
        "bass": 9,
        "drums": 9,
    }
    assert intense.tension == 1.0
    assert intense.index == 1


def test_bass_is_picked_among_the_guitar_phrases_accompaniment(make_phrase: PhraseMaker) -> None:
    conductor = _conductor(make_phrase, tension=1.0)
    chosen = conductor.next_phrases(0)
    assert chosen is not None
    assert chosen.phrases["bass"] in chosen.phrases["guitar"].accompaniment


def test_bass_plays_the_best_chord_fit_before_the_closest_tension(
    make_phrase: PhraseMaker,
) -> None:
    buffers = {i: PhraseBuffer(i, depth=4) for i in INSTRUMENTS}
    fits_badly = make_phrase("bass", 9, chord_fit=0.25)  # the tension's choice
    fits_best_calm = make_phrase("bass", 1, chord_fit=0.9)
    fits_best_busy = make_phrase("bass", 5, chord_fit=0.9)
    bass = (fits_badly, fits_best_calm, fits_best_busy)
    buffers["bass"].observe(bass)
    buffers["guitar"].add([make_phrase("guitar", 9, accompaniment=bass)], 1.0)
    buffers["drums"].add([make_phrase("drums", 9)], 1.0)
    chosen = Conductor(buffers, Controls(tension=1.0)).next_phrases(0)
    assert chosen is not None
    # harmony first (0.9 beats 0.25), then the tension among the equally fitting two
    assert chosen.phrases["bass"] is fits_best_busy


def test_best_fitting_keeps_ties_and_unmeasured_candidates(make_phrase: PhraseMaker) -> None:
    a, b, c = (make_phrase("bass", 1, chord_fit=f) for f in (0.5, 0.75, 0.75))
    assert best_fitting((a, b, c)) == (b, c)
    unmeasured = make_phrase("bass", 2)
    assert best_fitting((a, unmeasured)) == (a, unmeasured)
    assert best_fitting(()) == ()


def test_best_fitting_takes_the_bass_most_in_the_key_before_the_one_agreeing_most(
    make_phrase: PhraseMaker,
) -> None:
    def bass(key_fit: float, agreement: float) -> Phrase:
        phrase = make_phrase("bass", 1)
        return dataclasses.replace(
            phrase, features={KEY_FIT: key_fit, AGREEMENT: agreement, CHORD_FIT: 0.5}
        )

    in_key, nearly, outside = bass(0.97, 0.2), bass(0.92, 0.6), bass(0.5, 1.0)
    assert best_fitting((outside, nearly, in_key), key_fit=0.95) == (in_key,)
    # none at 95%: at most twice the notes outside (90%) still comes first
    assert best_fitting((outside, nearly), key_fit=0.95) == (nearly,)
    # none near the key: agreement decides among all
    assert best_fitting((outside, bass(0.6, 0.4)), key_fit=0.95) == (outside,)


def test_interpolation_over_eight_bars_ends_on_the_scene(make_phrase: PhraseMaker) -> None:
    conductor = _conductor(make_phrase)
    first = conductor.next_phrases(0)
    assert first is not None
    conductor.save_scene("boss")
    scene = conductor.scenes["boss"]
    for _ in range(2):  # move away from the scene
        conductor.next_phrases(1)
    start = {i: p.z for i, p in conductor.current.items()}
    interp = conductor.plan_interpolation("boss", bars=8)
    assert conductor.scene_target == "boss"
    assert len(interp.points) == 4  # one point per 2-bar phrase
    # the runner decodes the points; here each decoded phrase carries its point's z exactly
    interp.decoded = [
        {i: make_phrase(i, 4, z0=float(point[i][0])) for i in INSTRUMENTS}
        for point in interp.points
    ]
    for k, point in enumerate(interp.points):
        for i in INSTRUMENTS:
            assert point[i][0] == pytest.approx(
                slerp(start[i], scene[i], (k + 1) / 4)[0], abs=1e-12
            )
    played = [conductor.next_phrases(10 + k) for k in range(4)]
    assert all(p is not None for p in played)
    for i in INSTRUMENTS:
        np.testing.assert_array_equal(interp.points[-1][i], scene[i])
        assert played[-1] is not None
        assert played[-1].phrases[i].z[0] == scene[i][0]
    assert conductor.finish_interpolation() is True
    assert conductor.scene_target == ""
    assert conductor.next_phrases(20) is not None  # back to picking by tension


def test_interpolation_not_decoded_in_time_waits_a_phrase_then_uses_stand_ins(
    make_phrase: PhraseMaker,
) -> None:
    conductor = _conductor(make_phrase)
    conductor.next_phrases(0)
    conductor.save_scene("calm")
    interp = conductor.plan_interpolation("calm", bars=2)
    assert conductor.next_phrases(1) is not None  # waits one phrase for the decode
    assert interp.position == 0
    chosen = conductor.next_phrases(2)
    assert chosen is not None
    assert interp.stand_ins == 1
    assert interp.done


def test_unknown_scene_and_bad_bars_are_refused(make_phrase: PhraseMaker) -> None:
    conductor = _conductor(make_phrase)
    with pytest.raises(ConductorError, match="nothing has played yet"):
        conductor.save_scene("early")
    conductor.next_phrases(0)
    conductor.save_scene("verse")
    with pytest.raises(ConductorError, match=r"unknown scene 'chorus' \(known: verse\)"):
        conductor.plan_interpolation("chorus", 8)
    with pytest.raises(ConductorError, match="even"):
        conductor.plan_interpolation("verse", 3)


vectors = st.lists(
    st.floats(min_value=-3, max_value=3, allow_nan=False), min_size=4, max_size=4
).filter(lambda v: float(np.linalg.norm(v)) > 0.1)


@given(a=vectors, b=vectors, t=st.floats(min_value=0.0, max_value=1.0))
def test_slerp_ends_exactly_and_stays_on_the_sphere(
    a: list[float], b: list[float], t: float
) -> None:
    za, zb = np.array(a) / np.linalg.norm(a), np.array(b) / np.linalg.norm(b)
    np.testing.assert_array_equal(slerp(za, zb, 1.0), zb)
    np.testing.assert_allclose(slerp(za, zb, 0.0), za, atol=1e-9)
    if za @ zb > -0.99:  # antipodal pairs have no unique great circle
        assert float(np.linalg.norm(slerp(za, zb, t))) == pytest.approx(1.0, abs=1e-9)
