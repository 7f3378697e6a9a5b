"""Generation suite: runners and refill loops around fake models (instant, deterministic).

Rules: ``autojump_clock`` everywhere; the fake model's decode runs in a real worker thread (that is
the code under test), and its call log shows how decodes were batched and conditioned.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import trio
import trio.testing
from metalosc.protocol import INSTRUMENTS, Instrument
from metalosc.runtime import TENSION_AXES, TENSION_PUSH, notes_from_sequence
from metalosc.server import (
    Conductor,
    Controls,
    DecodeRequest,
    Generator,
    ModelRunner,
    PhraseAnalysis,
    PhraseBuffer,
    ThreadExecutor,
)


def _generator(
    models: dict[Instrument, Any], analysis: PhraseAnalysis, depth: int = 8, batch: int = 4
) -> Generator:
    runners = {i: ModelRunner(ThreadExecutor(models[i], analysis)) for i in INSTRUMENTS}
    buffers = {i: PhraseBuffer(i, depth, models[i].tension_vector) for i in INSTRUMENTS}
    # Every fake guitar phrase is admitted: these tests count decodes (admission has its own).
    return Generator(
        runners,
        buffers,
        Controls(),
        seed=7,
        batch_size=batch,
        bass_candidates=3,
        guitar_min_notes=0,
    )


async def test_prime_fills_each_buffer_in_batches(
    autojump_clock: trio.testing.MockClock,
    fake_models: dict[Instrument, Any],
    fake_analysis: PhraseAnalysis,
) -> None:
    gen = _generator(fake_models, fake_analysis)
    await gen.prime()
    assert len(gen.buffers["guitar"]) == 8
    assert len(gen.buffers["drums"]) == 8
    assert [n for n, _, _ in fake_models["guitar"].decode_calls] == [4, 4]
    assert [n for n, _, _ in fake_models["drums"].decode_calls] == [4, 4]
    # the bass: decoded per distinct chord progression of the guitar phrases, 3 per guitar phrase
    bass_calls = fake_models["bass"].decode_calls
    assert sum(n for n, _, _ in bass_calls) == 8 * 3
    # ... on the chords of the guitar phrase moved into the key (E minor, the default)
    moved = {tuple(g.chords) for g in gen.buffers["guitar"]._pool}
    assert all(tuple(chords or ()) in moved for _, _, chords in bass_calls)
    for guitar in gen.buffers["guitar"]._pool:
        assert guitar.key == 4
        assert len(guitar.accompaniment) == 3
        assert all(b.chords == guitar.chords for b in guitar.accompaniment)


async def test_refill_loop_tops_up_after_picks(
    autojump_clock: trio.testing.MockClock,
    fake_models: dict[Instrument, Any],
    fake_analysis: PhraseAnalysis,
) -> None:
    gen = _generator(fake_models, fake_analysis)
    await gen.prime()
    conductor = Conductor(gen.buffers, gen.controls)
    riffs: set[int] = set()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gen.run)
        for index in range(20):
            chosen = conductor.next_phrases(index)
            assert chosen is not None
            riffs.add(chosen.phrases["guitar"].id)
            gen.poke()
            # decodes run in real threads, which MockClock cannot see: poll in virtual time
            with trio.fail_after(60):
                while min(len(gen.buffers[i]) for i in ("guitar", "drums")) < 8:
                    await trio.sleep(0.001)
        nursery.cancel_scope.cancel()
    assert len(gen.buffers["guitar"]) == 8
    assert len(gen.buffers["drums"]) == 8
    assert all(b.underruns == 0 for b in gen.buffers.values())
    # one guitar phrase decoded for every riff taken from the buffer (repeats take none)
    assert len(riffs) < 20
    assert gen.runners["guitar"].phrases_decoded == 8 + len(riffs)


async def test_temperature_reaches_the_model(
    autojump_clock: trio.testing.MockClock,
    fake_models: dict[Instrument, Any],
    fake_analysis: PhraseAnalysis,
) -> None:
    gen = _generator(fake_models, fake_analysis, depth=2, batch=2)
    gen.controls.temperature = 0.3
    await gen.prime()
    assert {t for _, t, _ in fake_models["drums"].decode_calls} == {0.3}


def _drawn(gen: Generator, instrument: Instrument, n: int) -> np.ndarray:
    """The latents of a draw, as an executor draws them."""
    runner = gen.runners[instrument]
    return gen.draw(instrument, n).latents(runner.z_size, runner.tension_vector)


def test_sampling_pushes_latents_along_the_tension_vector(
    fake_models: dict[Instrument, Any], fake_analysis: PhraseAnalysis
) -> None:
    gen = _generator(fake_models, fake_analysis)
    gen.controls.tension = 0.0
    calm = _drawn(gen, "bass", 2000)[:, 0].mean()  # the bass plays the whole tension axis
    gen.controls.tension = 1.0
    intense = _drawn(gen, "bass", 2000)[:, 0].mean()
    assert calm < -0.5 < 0.5 < intense
    assert _drawn(gen, "bass", 2000)[:, 1].std() == pytest.approx(1.0, abs=0.1)


def test_refills_send_draws_not_latents_and_a_draw_is_its_latents(
    fake_models: dict[Instrument, Any], fake_analysis: PhraseAnalysis
) -> None:
    """The daemon sends a seed and tension targets; the executor draws the same latents the
    generator's ``sample`` would, and a draw must match the ids it is sent with."""
    gen = _generator(fake_models, fake_analysis)
    gen.controls.tension = 0.7
    draw = gen.draw("drums", 3)
    assert len(draw) == 3
    assert all(0.0 <= t <= 1.0 for t in draw.tensions)
    z = draw.latents(4, fake_models["drums"].tension_vector)
    np.testing.assert_array_equal(z, draw.latents(4, fake_models["drums"].tension_vector))
    request = DecodeRequest.of(draw, 1.0, None, [1, 2, 3])
    assert request.z is draw
    with pytest.raises(ValueError, match="a draw of 3 latents for 2 ids"):
        DecodeRequest.of(draw, 1.0, None, [1, 2])


def test_sampling_places_latents_at_the_tension_coordinate(
    fake_models: dict[Instrument, Any], fake_analysis: PhraseAnalysis
) -> None:
    gen = _generator(fake_models, fake_analysis)
    gen.tension_spread = 0.0
    vector = np.asarray(fake_models["drums"].tension_vector, dtype=np.float64)
    unit = vector / np.linalg.norm(vector)
    low, high = TENSION_AXES["drums"]
    for tension in (0.0, 0.25, 1.0):
        gen.controls.tension = tension
        z = _drawn(gen, "drums", 50)
        position = low + (high - low) * tension  # the stretch of the axis the drums play
        expected = (2 * position - 1) * TENSION_PUSH * np.linalg.norm(vector)
        np.testing.assert_allclose(z @ unit, expected)


async def test_interpolation_path_is_decoded_in_one_batch_per_instrument(
    autojump_clock: trio.testing.MockClock,
    fake_models: dict[Instrument, Any],
    fake_analysis: PhraseAnalysis,
) -> None:
    gen = _generator(fake_models, fake_analysis)
    await gen.prime()
    conductor = Conductor(gen.buffers, gen.controls)
    conductor.next_phrases(0)
    conductor.save_scene("boss")
    conductor.next_phrases(1)
    interp = conductor.plan_interpolation("boss", bars=8)
    before = len(fake_models["guitar"].decode_calls)
    await gen.decode_interpolation(interp)
    assert [n for n, _, _ in fake_models["guitar"].decode_calls[before:]] == [4]
    assert interp.decoded is not None
    assert len(interp.decoded) == 4
    last = interp.decoded[-1]
    for instrument in INSTRUMENTS:
        np.testing.assert_array_equal(last[instrument].z, conductor.scenes["boss"][instrument])
    assert last["bass"].chords == last["guitar"].chords


def test_notes_from_a_real_note_sequence() -> None:
    from note_seq.protobuf import music_pb2

    seq = music_pb2.NoteSequence()
    seq.quantization_info.steps_per_quarter = 4
    seq.notes.add(pitch=40, velocity=110, quantized_start_step=0, quantized_end_step=2)
    seq.notes.add(pitch=36, velocity=0, quantized_start_step=30, quantized_end_step=40)
    seq.notes.add(pitch=52, velocity=90, quantized_start_step=33, quantized_end_step=34)
    notes = notes_from_sequence(seq)
    assert [(n.pitch, n.velocity, n.start_beat, n.end_beat) for n in notes] == [
        (40, 110, 0.0, 0.5),
        (36, 100, 7.5, 8.0),  # clipped to the phrase; velocity 0 (unset) becomes the default
    ]
    plain = music_pb2.NoteSequence()
    plain.tempos.add(qpm=60.0)
    plain.notes.add(pitch=60, velocity=80, start_time=1.0, end_time=1.5)
    [note] = notes_from_sequence(plain)
    assert (note.start_beat, note.end_beat) == (1.0, 1.5)


async def test_a_tension_jump_decodes_one_more_batch_for_the_new_tension(
    autojump_clock: trio.testing.MockClock,
    fake_models: dict[Instrument, Any],
    fake_analysis: PhraseAnalysis,
) -> None:
    gen = _generator(fake_models, fake_analysis)
    gen.controls.tension = 0.5
    await gen.prime()
    assert await gen.refill("drums") == 0  # full, and tuned for this tension
    gen.controls.tension = 0.55
    assert await gen.refill("drums") == 0  # a small move: the pool still fits
    gen.controls.tension = 1.0
    assert await gen.refill("drums") == 4  # a jump: one batch aimed at the new tension
    assert await gen.refill("drums") == 0
    assert len(gen.buffers["drums"]) == 12  # the pool may grow to twice its depth


async def test_warm_up_decodes_every_batch_size_once_before_ready(
    autojump_clock: trio.testing.MockClock,
    fake_models: dict[Instrument, Any],
    fake_analysis: PhraseAnalysis,
) -> None:
    gen = _generator(fake_models, fake_analysis)
    await gen.warm_up()
    for instrument in INSTRUMENTS:
        calls = fake_models[instrument].decode_calls
        assert [n for n, _, _ in calls] == [1, 2, 4, 8, 16, 32]
    assert {tuple(c or ()) for _, _, c in fake_models["bass"].decode_calls} == {("N.C.", "N.C.")}
    assert all(len(b) == 0 for b in gen.buffers.values())  # warm-up phrases are thrown away
