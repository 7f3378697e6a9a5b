"""Form suite: sections, riffs and their repeats, grooves and fills, keys, and where changes land.

Rules: the conductor alone, bar by bar, on buffers of phrases the ``make_phrase`` fixture builds
with known notes and latents; every assertion names the exact bar (bars count from 0) and the
exact phrase. Decodes the conductor orders are "done" by the test itself, so nothing is timed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from metalosc.protocol import INSTRUMENTS, Instrument
from metalosc.runtime import Phrase
from metalosc.server import (
    BarPlan,
    Conductor,
    Controls,
    FormRules,
    Interpolation,
    PhraseBuffer,
    SectionOrder,
)

PhraseMaker = Callable[..., Phrase]
E, D = 4, 2  # pitch classes of the keys used here


def _with_key(phrase: Phrase, key: int) -> Phrase:
    """``phrase`` marked as moved into ``key``, its bass candidates too."""
    import dataclasses

    accompaniment = tuple(dataclasses.replace(b, key=key) for b in phrase.accompaniment)
    return dataclasses.replace(phrase, key=key, accompaniment=accompaniment)


def _conductor(
    make_phrase: PhraseMaker,
    *,
    tension: float = 0.5,
    patterns: tuple[str, str, str] = ("AABA", "AABA", "AABA"),
    fill: bool = True,
) -> Conductor:
    buffers = {i: PhraseBuffer(i, depth=64) for i in INSTRUMENTS}
    for level in range(1, 40):
        bass = tuple(make_phrase("bass", level % 9 + 1) for _ in range(2))
        guitar = make_phrase("guitar", level % 9 + 1, accompaniment=bass)
        buffers["guitar"].add([_with_key(guitar, E)], tension)
        buffers["bass"].observe(bass)
        buffers["drums"].add([make_phrase("drums", level % 9 + 1)], tension)
    fill_vector = np.array([0.0, 1.0, 0.0, 0.0]) if fill else None
    return Conductor(
        buffers,
        Controls(tension=tension),
        FormRules(section_phrases=4, patterns=patterns),
        key=E,
        fill_vector=fill_vector,
        rng=np.random.default_rng(0),
    )


def _decode_orders(conductor: Conductor, make_phrase: PhraseMaker) -> None:
    """What the generator does with the conductor's orders: a phrase for every latent."""
    for order in conductor.take_orders():
        assert isinstance(order, SectionOrder)
        if order.variation_z is not None:
            order.guitar = [
                _with_key(
                    make_phrase(
                        "guitar", 4, z0=float(z[0]), accompaniment=(make_phrase("bass", 4),)
                    ),
                    order.key,
                )
                for z in order.variation_z
            ]
        if order.fill_z is not None:
            order.drums = [make_phrase("drums", 12, z0=float(z[0])) for z in order.fill_z]


def _play(
    conductor: Conductor, make_phrase: PhraseMaker, bars: int, start: int = 0
) -> list[BarPlan]:
    plans = []
    for bar in range(start, start + bars):
        plan = conductor.next_bar(bar)
        assert plan is not None
        _decode_orders(conductor, make_phrase)
        plans.append(plan)
    return plans


def _phrase_ids(plans: list[BarPlan], instrument: Instrument) -> list[int]:
    """The id of ``instrument``'s phrase in every phrase (first bars only)."""
    return [p.phrases[instrument].id for p in plans if p.phrase_start]


def test_a_section_is_eight_bars_and_the_riff_repeats_where_the_pattern_says(
    make_phrase: PhraseMaker,
) -> None:
    conductor = _conductor(make_phrase, patterns=("AABA",) * 3)
    plans = _play(conductor, make_phrase, 16)
    starts = [p.bar for p in plans if p.section is not None]
    assert starts == [0, 8]
    guitar = _phrase_ids(plans, "guitar")
    for section in (guitar[:4], guitar[4:]):
        a, a2, b, a3 = section
        assert a == a2 == a3  # the riff and its repeats: the very same phrase
        assert b != a
    assert set(guitar[:4]).isdisjoint(guitar[4:])  # a new section states a new riff
    # the bass plays the same line under every repeat of the riff
    bass = _phrase_ids(plans, "bass")
    assert bass[0] == bass[1] == bass[3]


def test_a_lower_case_letter_plays_a_decoded_variation_of_its_riff(
    make_phrase: PhraseMaker,
) -> None:
    conductor = _conductor(make_phrase, patterns=("AaBA",) * 3)
    plans = _play(conductor, make_phrase, 8)
    a, variation, b, a2 = (p.phrases["guitar"] for p in plans if p.phrase_start)
    assert a.id == a2.id
    assert variation.id not in (a.id, b.id)
    section = plans[0].section
    assert section is not None
    # decoded from a latent near the riff's: slerp towards a fresh prior sample by 0.3
    assert section.order.variation_z is not None
    cosine = float(
        section.order.variation_z[0]
        @ a.z
        / np.linalg.norm(section.order.variation_z[0])
        / np.linalg.norm(a.z)
    )
    assert cosine > 0.5
    assert conductor.stand_ins == 0


def test_a_variation_not_decoded_in_time_is_played_as_its_riff_and_counted(
    make_phrase: PhraseMaker,
) -> None:
    conductor = _conductor(make_phrase, patterns=("AaBA",) * 3)
    plans = [conductor.next_bar(bar) for bar in range(4)]  # orders never decoded
    guitar = [p.phrases["guitar"].id for p in plans if p is not None and p.phrase_start]
    assert guitar[0] == guitar[1]
    assert conductor.stand_ins == 1


def test_the_drums_hold_one_groove_and_turn_around_in_the_last_two_bars_of_every_section(
    make_phrase: PhraseMaker,
) -> None:
    conductor = _conductor(make_phrase)
    plans = _play(conductor, make_phrase, 24)
    drums = [p.phrases["drums"] for p in plans]
    for section_start in (0, 8, 16):
        groove = drums[section_start]
        assert all(d.id == groove.id for d in drums[section_start : section_start + 6])
        turnaround = drums[section_start + 6]
        assert turnaround.id != groove.id
        assert drums[section_start + 7].id == turnaround.id
        section = next(p.section for p in plans if p.bar == section_start)
        assert section is not None
        # the fill was decoded from the groove's latent moved along the fill vector, the further
        # the more intense the section (tension 0.5 here)
        assert section.order.fill_z is not None
        push = conductor.rules.fill_length(0.5)
        np.testing.assert_array_equal(
            section.order.fill_z[0], groove.z + push * np.array([0.0, 1.0, 0.0, 0.0])
        )
        # the turnaround: the groove's first bar, then the fill's second bar
        assert section.order.drums is not None
        fill = section.order.drums[0]
        first_bar = [(n.pitch, n.start_beat) for n in turnaround.notes if n.start_beat < 4]
        second_bar = [(n.pitch, n.start_beat) for n in turnaround.notes if n.start_beat >= 4]
        assert first_bar == [(n.pitch, n.start_beat) for n in groove.notes if n.start_beat < 4]
        assert second_bar == [(n.pitch, n.start_beat) for n in fill.notes if n.start_beat >= 4]
        assert second_bar


def test_without_a_fill_vector_a_denser_buffered_take_fills(make_phrase: PhraseMaker) -> None:
    conductor = _conductor(make_phrase, fill=False)
    plans = _play(conductor, make_phrase, 8)
    groove, fill = plans[0].phrases["drums"], plans[6].phrases["drums"]
    assert fill.id != groove.id
    assert fill.intensity > groove.intensity


@pytest.mark.parametrize(
    ("transition", "first_new_bar"),
    [("bar", 3), ("phrase", 4), ("section", 8)],
)
def test_a_tension_change_waits_for_the_boundary_asked_for(
    make_phrase: PhraseMaker, transition: str, first_new_bar: int
) -> None:
    conductor = _conductor(make_phrase, tension=0.2)
    plans = _play(conductor, make_phrase, 3)  # bars 0-2: bar 2 starts the second phrase
    conductor.controls.tension = 0.9
    conductor.change(transition)  # type: ignore[arg-type]
    plans += _play(conductor, make_phrase, 10, start=3)
    tensions = [round(p.tension, 2) for p in plans]
    assert tensions[:first_new_bar] == [0.2] * first_new_bar
    assert tensions[first_new_bar] == 0.9
    new = plans[first_new_bar]
    assert new.section is not None
    assert new.phrase_start
    assert new.section.start_bar == first_new_bar
    if transition == "bar":  # the phrase in flight was cut after its first bar
        assert plans[2].phrase_start
        assert not plans[2].section


def test_a_small_tension_move_waits_for_the_next_section(make_phrase: PhraseMaker) -> None:
    conductor = _conductor(make_phrase, tension=0.5)
    _play(conductor, make_phrase, 2)
    conductor.controls.tension = 0.55  # less than the rules' step of 0.1
    conductor.change("bar")
    plans = _play(conductor, make_phrase, 8, start=2)
    assert [p.bar for p in plans if p.section is not None] == [8]
    assert plans[-1].tension == pytest.approx(0.55)


def test_a_key_change_lands_where_the_next_section_starts(make_phrase: PhraseMaker) -> None:
    conductor = _conductor(make_phrase)
    plans = _play(conductor, make_phrase, 3)
    conductor.request_key(D)
    assert conductor.target_key == D
    assert conductor.key == E
    plans += _play(conductor, make_phrase, 13, start=3)
    keys = [conductor_key for conductor_key in (p.phrases["guitar"].key for p in plans)]
    assert keys[:8] == [E] * 8  # never mid-section
    assert keys[8:] == [D] * 8
    section = plans[8].section
    assert section is not None
    assert section.key_name == "D"
    # the riff and its bass moved down a whole tone into D minor (the smaller way round)
    riff, bass = plans[8].phrases["guitar"], plans[8].phrases["bass"]
    buffered = plans[0].phrases["guitar"]
    assert [n.pitch for n in riff.notes] == [n.pitch - 2 for n in buffered.notes]
    assert bass.key == D


def test_a_section_request_starts_one_at_the_next_phrase_with_its_label(
    make_phrase: PhraseMaker,
) -> None:
    conductor = _conductor(make_phrase)
    _play(conductor, make_phrase, 3)
    conductor.request_section("boss")
    plans = _play(conductor, make_phrase, 2, start=3)
    assert plans[0].section is None
    assert plans[1].section is not None
    assert plans[1].section.label == "boss"
    assert plans[1].bar == 4


def test_a_fill_request_plays_a_fill_at_the_next_phrase(make_phrase: PhraseMaker) -> None:
    conductor = _conductor(make_phrase)
    plans = _play(conductor, make_phrase, 1)
    groove = plans[0].phrases["drums"]
    conductor.request_fill()
    plans += _play(conductor, make_phrase, 4, start=1)
    assert plans[1].phrases["drums"].id == groove.id  # the phrase in flight plays on
    assert plans[2].phrases["drums"].id != groove.id  # the next phrase fills
    assert plans[4].phrases["drums"].id == groove.id  # then the groove again


def test_a_scene_reached_by_a_morph_keeps_playing_until_something_moves_it(
    make_phrase: PhraseMaker,
) -> None:
    conductor = _conductor(make_phrase, tension=0.5)
    _play(conductor, make_phrase, 2)
    conductor.save_scene("calm")
    _play(conductor, make_phrase, 14, start=2)
    interpolation = conductor.plan_interpolation("calm", bars=4)
    [order] = [o for o in conductor.take_orders() if isinstance(o, Interpolation)]
    assert order is interpolation
    scene_guitar = make_phrase("guitar", 2, accompaniment=(make_phrase("bass", 2),))
    interpolation.decoded = [
        {i: make_phrase(i, 3) for i in INSTRUMENTS},
        {
            "guitar": _with_key(scene_guitar, E),
            "bass": make_phrase("bass", 2),
            "drums": make_phrase("drums", 2),
        },
    ]
    plans = _play(conductor, make_phrase, 4 + 24, start=16)
    arrived = plans[2]
    assert arrived.phrases["guitar"].id == scene_guitar.id
    assert conductor.finish_interpolation()
    # the next phrase starts a section on the scene, and three sections later it is still there
    held = [p for p in plans[4:] if p.phrase_start]
    assert plans[4].section is not None
    assert plans[4].section.label == "calm"
    assert {p.phrases["guitar"].id for p in held} == {scene_guitar.id}
    drums = [p.phrases["drums"].id for p in plans[4:]]
    assert drums[0] == arrived.phrases["drums"].id  # the scene's groove
    # a tension move moves the music on
    conductor.controls.tension = 0.9
    conductor.change("phrase")
    moved = _play(conductor, make_phrase, 2, start=44)
    assert moved[0].section is not None
    assert moved[0].phrases["guitar"].id != scene_guitar.id


def test_scenes_remember_the_riff_the_groove_and_the_key(make_phrase: PhraseMaker) -> None:
    conductor = _conductor(make_phrase)
    plans = _play(conductor, make_phrase, 6)  # bar 4 plays the B riff: the scene is still A
    conductor.save_scene("verse")
    scene = conductor.scenes["verse"]
    section = plans[0].section
    assert section is not None
    np.testing.assert_array_equal(scene.guitar, section.riffs["A"].z)
    np.testing.assert_array_equal(scene.drums, section.groove.z)
    assert scene.key == E


def test_form_rules_refuse_patterns_that_are_not_riff_letters() -> None:
    with pytest.raises(ValueError, match="starting with 'A'"):
        FormRules(patterns=("BABA", "AABA", "AABA"))
    with pytest.raises(ValueError, match="at least one phrase"):
        FormRules(section_phrases=0)
