"""Takes: built from cues, written as MIDI, recorded by the daemon, replayed from their logs.

Rules: the pure parts (take builder, MIDI layout) are tested on hand-made cues; the recorder is
tested inside a daemon on fake models over real UDP (a fast tempo keeps it short); every MIDI
file is read back with mido, never compared as bytes alone.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import mido
import pytest
import trio
from metalosc.protocol import (
    INSTRUMENTS,
    SCENE_NAME_MAX,
    Error,
    Instrument,
    Key,
    Mute,
    Note,
    Play,
    RecordStart,
    RecordState,
    RecordStop,
    SectionStarted,
    Stop,
    Subscribe,
    Tempo,
    Tension,
)
from metalosc.runtime import PhraseNote
from metalosc.server import RunningServer, Settings
from metalosc.server._clock import BeatClock
from metalosc.server._cues import Cue
from metalosc.server._midifile import CHANNELS, TICKS_PER_BEAT, read_midi, take_midi, write_take
from metalosc.server._record import Recorder
from metalosc.server._replay import midi_differences, replay, replay_take
from metalosc.server._take import TakeBuilder
from metalosc.server._takelog import TakeLogError, read_take_log
from metalosc.server.testing import FakeModelSource, UdpClient, open_server


def note(pitch: int, start: float, end: float, velocity: int = 100) -> PhraseNote:
    return PhraseNote(pitch, velocity, start, end)


def cue(beat: float, *notes: tuple[Instrument, PhraseNote], section: bool = False) -> Cue:
    started = SectionStarted(index=3, label="boss", key="D", tension=0.8) if section else None
    return Cue(beat=beat, notes=notes, beat_marker=float(beat).is_integer(), section=started)


# -- the take builder -----------------------------------------------------------------------


def test_a_take_starts_at_the_bar_line_before_its_first_cue_and_leaves_muted_notes_out() -> None:
    builder = TakeBuilder()
    builder.cue(
        1, cue(9.0, ("guitar", note(40, 1.0, 1.5)), ("drums", note(36, 1.0, 1.25))), (), 120.0
    )
    builder.cue(1, cue(9.5, ("bass", note(28, 0.0, 2.0))), ("bass",), 120.0)
    take = builder.take()
    # beat 9 is in bar 2 (beats 8..12): the take's beat 0 is beat 8
    assert [(n.instrument, n.pitch, n.start, n.end) for n in take.notes] == [
        ("drums", 36, 1.0, 1.25),
        ("guitar", 40, 1.0, 1.5),
    ]
    assert take.tempos == ((0.0, 120.0),)
    assert take.beats == 4.0


def test_tempo_changes_land_on_whole_beats_and_sections_are_marked() -> None:
    builder = TakeBuilder()
    builder.cue(1, cue(0.0, section=True), (), 120.0)
    builder.cue(1, cue(1.0), (), 120.0)
    builder.cue(1, cue(1.5), (), 90.0)  # not a whole beat: the tempo cannot have changed here
    builder.cue(1, cue(2.0), (), 90.0)
    take = builder.take()
    assert take.tempos == ((0.0, 120.0), (2.0, 90.0))
    (mark,) = take.sections
    assert (mark.beat, mark.index, mark.label, mark.key, mark.tension) == (0.0, 3, "boss", "D", 0.8)


def test_play_after_stop_continues_the_take_at_the_next_bar_line() -> None:
    builder = TakeBuilder()
    builder.cue(1, cue(4.0, ("guitar", note(40, 0.0, 1.0))), (), 120.0)
    builder.cue(1, cue(6.0, ("guitar", note(41, 0.0, 0.5))), (), 120.0)  # sounds to take beat 2.5
    builder.cue(2, cue(0.0, ("guitar", note(42, 0.0, 1.0))), (), 120.0)  # run 2 restarts at 0
    take = builder.take()
    assert [(n.pitch, n.start) for n in take.notes] == [(40, 0.0), (41, 2.0), (42, 4.0)]
    assert take.beats == 8.0


# -- MIDI files -----------------------------------------------------------------------------


def test_a_take_is_a_general_midi_file_with_a_track_per_instrument_and_drums_on_channel_10(
    tmp_path: Path,
) -> None:
    builder = TakeBuilder()
    builder.cue(1, cue(0.0, ("guitar", note(40, 0.0, 0.5)), section=True), (), 150.0)
    builder.cue(
        1, cue(0.25, ("bass", note(28, 0.25, 1.0)), ("drums", note(36, 0.25, 0.5))), (), 150.0
    )
    builder.cue(1, cue(1.0), (), 100.0)
    path = tmp_path / "take.mid"
    write_take(builder.take(), path, title="take")
    midi = mido.MidiFile(path)
    assert midi.type == 1
    assert midi.ticks_per_beat == TICKS_PER_BEAT
    names = [next(m.name for m in t if m.type == "track_name") for t in midi.tracks]
    assert names == ["take", "Distortion Guitar", "Electric Bass", "Drums"]
    programs = {m.channel: m.program for t in midi.tracks for m in t if m.type == "program_change"}
    assert programs == {0: 30, 1: 33, 9: 0}  # GM 31 Distortion Guitar, 34 Electric Bass (finger)
    score = read_midi(path)
    assert [(n.channel, n.pitch, n.start_tick, n.end_tick) for n in score.notes] == [
        (0, 40, 0, 240),
        (1, 28, 120, 480),
        (9, 36, 120, 240),
    ]
    assert score.tempos == ((0.0, 150.0), (1.0, 100.0))
    assert score.markers == ((0.0, "boss (D minor, tension 0.80)"),)
    keys = [m.key for t in midi.tracks for m in t if m.type == "key_signature"]
    assert keys == ["Dm"]


def test_a_note_still_sounding_when_its_pitch_starts_again_ends_there(tmp_path: Path) -> None:
    builder = TakeBuilder()
    builder.cue(1, cue(0.0, ("guitar", note(40, 0.0, 2.0))), (), 120.0)
    builder.cue(1, cue(1.0, ("guitar", note(40, 1.0, 1.5))), (), 120.0)
    path = tmp_path / "overlap.mid"
    write_take(builder.take(), path)
    notes = [(n.start_tick, n.end_tick) for n in read_midi(path).notes]
    assert notes == [(0, 480), (480, 720)]


def test_a_file_that_is_not_midi_is_named(tmp_path: Path) -> None:
    from metalosc.server._midifile import MidiFileError

    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"not midi at all")
    with pytest.raises(MidiFileError, match=r"junk\.mid"):
        read_midi(junk)


def test_a_broken_take_log_is_named(tmp_path: Path) -> None:
    log = tmp_path / "x.take.json"
    log.write_text('{"format": 1, "name": "x"}')
    with pytest.raises(TakeLogError, match=r"x\.take\.json: not a take log"):
        read_take_log(log)


# -- the daemon records ---------------------------------------------------------------------


@pytest.fixture
async def server(tmp_path: Path, fake_source: FakeModelSource) -> AsyncIterator[RunningServer]:
    settings = Settings(
        port=0, bpm=300.0, buffer_depth=4, batch_size=4, seed=3, record_dir=tmp_path / "takes"
    )
    async with open_server(settings, executors=fake_source) as running:
        yield running


async def record_reply(client: UdpClient, timeout: float = 10.0) -> RecordState | Error:
    with trio.fail_after(timeout):
        while True:
            _, packet = await client.receive()
            if isinstance(packet, RecordState | Error):
                return packet


async def test_a_recorded_take_is_what_the_subscriber_heard_and_replays_note_for_note(
    server: RunningServer, tmp_path: Path
) -> None:
    async with UdpClient.open(server.address) as client:
        await client.send(Subscribe())
        await client.phrases(1)
        await client.send(RecordStart(name="take"))
        started = await record_reply(client)
        assert isinstance(started, RecordState)
        assert started.recording
        assert started.path == str(tmp_path / "takes" / "take.mid")
        first = len(client.bundles)
        await client.phrases(2)
        await client.send(Mute(instrument="guitar", muted=True))
        await client.send(Tempo(bpm=240.0))
        await client.send(Tension(value=0.9, transition="bar"))
        await client.send(Key(key="G"))
        await client.phrases(3)
        await client.send(Mute(instrument="guitar", muted=False))
        await client.phrases(2)
        await client.send(RecordStop())
        saved = await record_reply(client)
        heard = [b for _, b in client.bundles[first:]]
    assert isinstance(saved, RecordState)
    assert not saved.recording
    midi, log = Path(saved.path), tmp_path / "takes" / "take.take.json"
    assert midi.is_file()
    assert log.is_file()

    score = read_midi(midi)
    assert saved.notes == len(score.notes) > 0
    take_log = read_take_log(log)
    assert take_log.seed == 3
    assert take_log.settings["bpm"] == 300.0
    assert {c.address for c in take_log.controls} >= {"/metal/mute", "/metal/tempo", "/metal/key"}
    assert all(len(p.z) == 4 for p in take_log.phrases)  # the latent path: one z per phrase

    # What the subscriber heard inside the recorded span is the take, note for note.
    (span,) = take_log.runs
    origin = span.first_beat // 4 * 4
    sent = sorted(
        (CHANNELS[m.instrument], m.pitch, m.velocity, round((m.beat - origin) * TICKS_PER_BEAT))
        for b in heard
        for m in b.messages
        if isinstance(m, Note) and span.first_beat <= m.beat <= span.last_beat
    )
    recorded = sorted((n.channel, n.pitch, n.velocity, n.start_tick) for n in score.notes)
    assert sent == recorded
    assert any(n.channel == CHANNELS["guitar"] for n in score.notes)
    muted_from = next(c.beat for c in take_log.controls if c.address == "/metal/mute")
    assert muted_from is not None
    # the tempo change is in the file's tempo map, at a whole beat
    assert [bpm for _, bpm in score.tempos] == [300.0, 240.0]
    assert score.tempos[1][0].is_integer()
    assert len(score.markers) >= 2  # a section started where the tension moved

    # The log alone gives the same file.
    replayed = replay(log, tmp_path / "replayed.mid")
    assert replayed.recorded == midi
    assert replayed.differences == ()
    assert midi_differences(score, read_midi(tmp_path / "replayed.mid")) == []
    assert replay_take(take_log) == replayed.take


async def test_recording_twice_stopping_unstarted_and_names_taken(
    server: RunningServer, tmp_path: Path
) -> None:
    async with UdpClient.open(server.address) as client:
        # a subscriber: a stranger's tiny request gets no reply larger than itself
        await client.send(Subscribe())
        await client.send(RecordStop())
        refused = await record_reply(client)
        assert isinstance(refused, Error)
        assert "not recording" in refused.reason
        await client.send(RecordStart(name="riff"))
        assert isinstance(await record_reply(client), RecordState)
        await client.send(RecordStart(name="other"))
        twice = await record_reply(client)
        assert isinstance(twice, Error)
        assert "already recording 'riff'" in twice.reason
        await client.send(RecordStop())
        first = await record_reply(client)
        await client.send(RecordStart(name="riff"))
        again = await record_reply(client)
        await client.send(RecordStop())
        second = await record_reply(client)
    assert isinstance(first, RecordState)
    assert first.name == "riff"
    assert isinstance(again, RecordState)
    assert again.name == "riff-2"
    assert again.recording
    assert isinstance(second, RecordState)
    assert Path(second.path).name == "riff-2.mid"
    assert sorted(p.name for p in (tmp_path / "takes").iterdir()) == [
        "riff-2.mid",
        "riff-2.take.json",
        "riff.mid",
        "riff.take.json",
    ]


def test_a_taken_name_at_the_longest_is_shortened_for_its_number(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, BeatClock(0.0, 120.0), settings={}, seed=1)
    longest = "x" * SCENE_NAME_MAX
    for path in recorder.paths(longest):
        path.write_text("an older take")
    taken = recorder.start(longest)
    assert taken == "x" * (SCENE_NAME_MAX - 2) + "-2"
    RecordState(recording=True, name=taken, path="p", notes=0)  # still a valid name to send


async def test_a_take_spans_stop_and_play(server: RunningServer, tmp_path: Path) -> None:
    async with UdpClient.open(server.address) as client:
        await client.send(Subscribe())
        await client.send(RecordStart(name="runs"))
        await record_reply(client)
        await client.phrases(1)
        await client.send(Stop())
        await client.expect_state(playing=False)
        await client.send(Play())
        await client.phrases(2)
        await client.send(RecordStop())
        saved = await record_reply(client)
    assert isinstance(saved, RecordState)
    take_log = read_take_log(tmp_path / "takes" / "runs.take.json")
    assert len(take_log.runs) == 2
    assert replay(tmp_path / "takes" / "runs.take.json", tmp_path / "r.mid").differences == ()
    parts = {n.instrument for n in read_midi(Path(saved.path)).notes}
    assert parts == set(INSTRUMENTS)

    # the command a sound designer runs: the same verdict, and a doctored recording is caught
    metalosc = [str(Path(sys.executable).with_name("metalosc")), "replay"]
    log = str(tmp_path / "takes" / "runs.take.json")
    same = await trio.run_process([*metalosc, log, str(tmp_path / "cli.mid")], capture_stdout=True)
    assert b"identical to the recording" in same.stdout
    assert midi_differences(read_midi(tmp_path / "cli.mid"), read_midi(Path(saved.path))) == []
    doctored = mido.MidiFile(saved.path)
    track = next(t for t in doctored.tracks if any(m.type == "note_on" for m in t))
    first = next(i for i, m in enumerate(track) if m.type == "note_on" and m.velocity > 0)
    track[first] = track[first].copy(note=track[first].note + 1)
    doctored.save(saved.path)
    differs = await trio.run_process(
        [*metalosc, log, str(tmp_path / "cli2.mid")], capture_stdout=True, check=False
    )
    assert differs.returncode == 4
    assert b"differs from the recording" in differs.stdout
    assert b"missing note" in differs.stdout
    assert b"extra note" in differs.stdout


async def test_a_take_being_recorded_is_written_when_the_daemon_stops(
    tmp_path: Path, fake_source: FakeModelSource
) -> None:
    settings = Settings(port=0, bpm=300.0, buffer_depth=4, batch_size=4, record_dir=tmp_path)
    async with (
        open_server(settings, executors=fake_source) as running,
        UdpClient.open(running.address) as client,
    ):
        await client.send(Subscribe())
        await client.send(RecordStart(name="cut"))
        await record_reply(client)
        await client.phrases(1)
    # open_server cancels serve: the recording is saved on the way out
    assert read_midi(tmp_path / "cut.mid").notes
    take_log = read_take_log(tmp_path / "cut.take.json")
    assert take_log.name == "cut"
    # no seed configured: the daemon drew one, and the take says which
    assert isinstance(take_log.seed, int)


def test_midi_differences_name_what_differs(tmp_path: Path) -> None:
    a, b = TakeBuilder(), TakeBuilder()
    a.cue(1, cue(0.0, ("guitar", note(40, 0.0, 1.0))), (), 120.0)
    b.cue(1, cue(0.0, ("guitar", note(41, 0.0, 1.0))), (), 120.0)
    write_take(a.take(), tmp_path / "a.mid")
    write_take(b.take(), tmp_path / "b.mid")
    lines = midi_differences(read_midi(tmp_path / "a.mid"), read_midi(tmp_path / "b.mid"))
    assert lines == [
        "missing note (channel, pitch, velocity, on, off) (0, 40, 100, 0, 480)",
        "extra note (channel, pitch, velocity, on, off) (0, 41, 100, 0, 480)",
    ]
    assert take_midi(a.take()).length == pytest.approx(2.0)  # one 4/4 bar at 120 BPM
