"""Scenes that last: saved to the state directory, listed, deleted, seeded, and refused (kept
aside) when their file is corrupt.

Rules: the file functions are tested on their own; everything else on the daemon wired up
(``serve``) on real loopback sockets with instant fake models, at 300 BPM so a phrase takes
1.6 s; every wait is bounded by ``trio.fail_after``, nothing asserts a duration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
from metalosc.protocol import (
    Error,
    Interpolate,
    SceneDelete,
    SceneList,
    SceneListRequest,
    SceneSave,
    Subscribe,
)
from metalosc.server import RunningServer, Scene, Settings
from metalosc.server._scenes import (
    SCENES_FILE,
    SceneFileError,
    SceneStore,
    read_scene_file,
    write_scene_file,
)
from metalosc.server.testing import FAST_SETTINGS, Z_SIZE, FakeModelSource, UdpClient, open_server
from structlog.testing import capture_logs

SETTINGS: dict[str, Any] = {**FAST_SETTINGS}
Z_SIZES = {"guitar": Z_SIZE, "bass": Z_SIZE, "drums": Z_SIZE}


def scene(offset: float, key: int = 4, size: int = Z_SIZE) -> Scene:
    rng = np.random.default_rng(int(offset * 1000))
    z = [rng.normal(size=size) + offset for _ in range(3)]
    return Scene(z[0], z[1], z[2], key)


def same(a: Scene, b: Scene) -> bool:
    return a.key == b.key and all(np.array_equal(a[i], b[i]) for i in Z_SIZES)


# -- the file ----------------------------------------------------------------------------


def test_a_scene_file_round_trips_latents_exactly(tmp_path: Path) -> None:
    path = tmp_path / "state" / SCENES_FILE
    scenes = {"verse": scene(0.1), "boss": scene(0.7, key=2)}
    write_scene_file(path, scenes)
    back = read_scene_file(path)
    assert sorted(back) == ["boss", "verse"]
    assert all(same(back[n], scenes[n]) for n in scenes)
    document = json.loads(path.read_text())
    assert document["format"] == "metalosc-scenes"
    assert document["scenes"]["boss"]["key"] == "D"
    assert [p.name for p in path.parent.iterdir()] == [SCENES_FILE]  # no temporary left


def test_a_missing_file_is_no_scenes(tmp_path: Path) -> None:
    assert read_scene_file(tmp_path / SCENES_FILE) == {}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not a scene file"),
        (b'{"format": "other", "version": 1, "scenes": {}}', "format"),
        (
            b'{"format": "metalosc-scenes", "version": 1, "scenes": {"bad name": '
            b'{"key": "E", "guitar": [1], "bass": [1], "drums": [1]}}}',
            "scenes.bad name",
        ),
        (
            b'{"format": "metalosc-scenes", "version": 1, "scenes": {"a": '
            b'{"key": "H", "guitar": [1], "bass": [1], "drums": [1]}}}',
            "scenes.a.key",
        ),
        (
            b'{"format": "metalosc-scenes", "version": 1, "scenes": {"a": '
            b'{"key": "E", "guitar": [], "bass": [1], "drums": [1]}}}',
            "scenes.a.guitar",
        ),
    ],
)
def test_a_broken_file_is_refused_naming_it(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / SCENES_FILE
    path.write_bytes(content)
    with pytest.raises(SceneFileError, match=reason) as info:
        read_scene_file(path)
    assert str(path) in str(info.value)


def test_a_corrupt_state_file_is_kept_aside_and_the_seeded_scenes_load(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    write_scene_file(seed, {"intro": scene(0.2)})
    path = tmp_path / "state" / SCENES_FILE
    path.parent.mkdir()
    path.write_bytes(b"\x00garbage")
    with capture_logs() as logs:
        scenes = SceneStore(path, seed).load(Z_SIZES)
    assert sorted(scenes) == ["intro"]
    (corrupt,) = [e for e in logs if e["event"] == "scenes_file_corrupt"]
    assert corrupt["path"] == str(path)
    assert "not a scene file" in corrupt["reason"]
    aside = Path(corrupt["kept"])
    assert aside.parent == path.parent
    assert aside.name.startswith(f"{SCENES_FILE}.corrupt-")
    assert aside.read_bytes() == b"\x00garbage"  # kept as it was, not overwritten
    assert not path.exists()


def test_saved_scenes_win_over_seeded_ones_and_other_models_scenes_are_skipped(
    tmp_path: Path,
) -> None:
    seed = tmp_path / "seed.json"
    write_scene_file(seed, {"intro": scene(0.2), "boss": scene(0.3)})
    path = tmp_path / SCENES_FILE
    write_scene_file(path, {"boss": scene(0.9), "wide": scene(0.4, size=Z_SIZE + 1)})
    with capture_logs() as logs:
        scenes = SceneStore(path, seed).load(Z_SIZES)
    assert sorted(scenes) == ["boss", "intro"]
    assert same(scenes["boss"], scene(0.9))
    (skipped,) = [e for e in logs if e["event"] == "scene_incompatible"]
    assert skipped["scene"] == "wide"
    assert skipped["z_size"] == Z_SIZE + 1


def test_a_broken_or_missing_seed_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SceneFileError, match="not found"):
        SceneStore(None, tmp_path / "nope.json").load(Z_SIZES)
    broken = tmp_path / "seed.json"
    broken.write_text("[]")
    with pytest.raises(SceneFileError, match=str(broken)):
        SceneStore(None, broken).load(Z_SIZES)


async def test_a_burst_of_changes_is_written_once_with_the_newest_scenes(tmp_path: Path) -> None:
    path = tmp_path / SCENES_FILE
    store = SceneStore(path)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.run)
        store.changed({"a": scene(0.1)})
        store.changed({"a": scene(0.1), "b": scene(0.2)})
        with trio.fail_after(10):
            await store.written()
        nursery.cancel_scope.cancel()
    assert store.writes == 1
    assert sorted(read_scene_file(path)) == ["a", "b"]


async def test_a_flood_of_changes_is_written_at_most_once_a_second(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A save every 10 ms for 5 s (trio time) writes the file about once a second, and the last
    file holds the last scenes."""
    path = tmp_path / SCENES_FILE
    store = SceneStore(path, min_interval=1.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.run)
        for i in range(500):
            store.changed({f"s{i}": scene(0.1)})
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()  # the pending change is written on the way out
    # at most once a second (threads may let the mock clock run on while a write is in flight,
    # so fewer is fine; every change written would be 500)
    assert 1 <= store.writes <= 7
    assert sorted(read_scene_file(path)) == ["s499"]


async def test_scenes_changed_just_before_a_stop_are_still_written(tmp_path: Path) -> None:
    path = tmp_path / SCENES_FILE
    store = SceneStore(path)
    with trio.CancelScope() as scope:
        scope.cancel()
        store.changed({"late": scene(0.5)})
        await store.run()
    assert sorted(read_scene_file(path)) == ["late"]


# -- the daemon --------------------------------------------------------------------------


async def started(client: UdpClient) -> None:
    await client.send(Subscribe())
    await client.expect_state(playing=True)
    await client.slots(1)  # something played: there is a scene to save


async def names(client: UdpClient) -> tuple[str, ...]:
    await client.send(SceneListRequest())
    reply = await client.expect(SceneList, timeout=5)
    assert isinstance(reply, SceneList)
    return reply.names


async def test_scenes_survive_a_daemon_restart(tmp_path: Path) -> None:
    settings = Settings(**SETTINGS, state_dir=tmp_path / "state")
    async with (
        open_server(settings, executors=FakeModelSource()) as server,
        UdpClient.open(server.address) as client,
    ):
        await started(client)
        assert await names(client) == ()
        with trio.fail_after(10):
            await client.send(SceneSave(name="verse"))
            heard = await client.expect(SceneList)  # subscribers hear the new list
            assert heard == SceneList(names=("verse",))
            await client.send(SceneSave(name="boss"))
            await server.scene_store.written()
        saved = server.conductor.scenes
    assert sorted(read_scene_file(tmp_path / "state" / SCENES_FILE)) == ["boss", "verse"]

    async with open_server(settings, executors=FakeModelSource()) as server:
        assert sorted(server.conductor.scenes) == ["boss", "verse"]
        assert all(same(server.conductor.scenes[n], saved[n]) for n in saved)
        async with UdpClient.open(server.address) as client:
            await started(client)
            assert await names(client) == ("boss", "verse")
            await client.send(Interpolate(scene="verse", bars=2))  # a kept scene plays
            await client.expect_state(scene="verse")
            await client.send(SceneDelete(name="boss"))
            assert await client.expect(SceneList, timeout=5) == SceneList(names=("verse",))
            with trio.fail_after(10):
                await server.scene_store.written()
    assert sorted(read_scene_file(tmp_path / "state" / SCENES_FILE)) == ["verse"]


async def test_deleting_an_unknown_scene_or_saving_past_the_limit_is_refused(
    tmp_path: Path,
) -> None:
    settings = Settings(**SETTINGS, state_dir=tmp_path / "state", max_scenes=1)
    async with (
        open_server(settings, executors=FakeModelSource()) as server,
        UdpClient.open(server.address) as client,
    ):
        await started(client)
        await client.send(SceneDelete(name="ghost"))
        error = await client.expect(Error, timeout=5)
        assert error == Error(
            refused_address="/metal/scene/delete",
            reason="unknown scene 'ghost' (known: none saved yet)",
        )
        await client.send(SceneSave(name="one"))
        await client.expect(SceneList, timeout=5)
        await client.send(SceneSave(name="two"))
        error = await client.expect(Error, timeout=5)
        assert isinstance(error, Error)
        assert "1 scenes saved already; save over one of them or delete one" in error.reason
        await client.send(SceneSave(name="one"))  # saving over a name is no new scene
        assert await client.expect(SceneList, timeout=5) == SceneList(names=("one",))


async def test_the_daemon_starts_with_seeded_scenes_and_a_corrupt_file_set_aside(
    tmp_path: Path,
) -> None:
    seed = tmp_path / "seed.json"
    write_scene_file(seed, {"intro": scene(0.2)})
    state = tmp_path / "state"
    state.mkdir()
    (state / SCENES_FILE).write_text("{")
    settings = Settings(**SETTINGS, state_dir=state, scene_seed=seed)
    with capture_logs() as logs:
        async with open_server(settings, executors=FakeModelSource()) as server:
            running: RunningServer = server
            assert sorted(running.conductor.scenes) == ["intro"]
    assert any(e["event"] == "scenes_file_corrupt" for e in logs)
    assert [p.name.split("-")[0] for p in state.iterdir()] == [f"{SCENES_FILE}.corrupt"]
