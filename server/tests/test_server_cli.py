"""Command line, settings, logging and sd_notify: the daemon's edges (ping asks a fake one)."""

from __future__ import annotations

import io
import json
import logging
import socket
import warnings
from pathlib import Path

import pytest
import structlog
import tomllib
import trio
from metalosc.server import (
    ConfigError,
    Settings,
    SystemdNotifier,
    configure_logging,
    load_settings,
    ping_address,
)
from metalosc.server._cli import build_parser, main
from metalosc.server.testing import FakeModelSource, open_server


def test_metalosc_help_lists_the_serve_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "serve" in out
    assert "run the OSC daemon" in out


def test_serve_help_names_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--config",
        "--host",
        "--port",
        "--models",
        "--lookahead",
        "--buffer-depth",
        "--lease",
        "--seed",
        "--log-format",
        "METALOSC_",
    ):
        assert flag in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out


def test_flags_beat_environment_beat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "metalosc.toml"
    config.write_text('port = 9100\nhost = "0.0.0.0"\nlookahead = 0.3\nseed = 4\n')
    monkeypatch.setenv("METALOSC_PORT", "9200")
    monkeypatch.setenv("METALOSC_LOOKAHEAD", "0.25")
    args = build_parser().parse_args(["serve", "--config", str(config), "--lookahead", "0.2"])
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    settings = load_settings(args.config, **flags)
    assert settings.host == "0.0.0.0"  # file
    assert settings.seed == 4  # file
    assert settings.port == 9200  # env over file
    assert settings.lookahead == 0.2  # flag over env
    assert settings.autoplay is True  # untouched default


def test_a_missing_config_file_is_ignored(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "absent.toml").port == 9000


def test_broken_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("port = = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_settings(config)


def test_invalid_setting_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "m.toml"
    config.write_text("lookahead = -1\n")
    with pytest.raises(ConfigError, match=r"lookahead.*m\.toml|m\.toml.*lookahead"):
        load_settings(config)
    assert main(["serve", "--port", "70000"]) == 2
    assert "port" in capsys.readouterr().err


def test_unknown_setting_in_the_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(config)


def test_sd_notify_sends_datagrams_to_the_notify_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": str(path)})
        assert notifier.ready("listening on 127.0.0.1:9000")
        assert notifier.watchdog()
        assert notifier.stopping()
        got = [listener.recv(1024).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=listening on 127.0.0.1:9000", "WATCHDOG=1", "STOPPING=1"]


def test_sd_notify_is_a_no_op_outside_systemd() -> None:
    assert not SystemdNotifier.from_env({}).ready()
    assert SystemdNotifier.watchdog_interval({}) is None
    assert SystemdNotifier.watchdog_interval({"WATCHDOG_USEC": "10000000"}) == 5.0


def test_json_logs_when_not_on_a_tty() -> None:
    stream = io.StringIO()
    try:
        configure_logging("auto", "info", stream=stream)
        structlog.get_logger("t").info("ready", port=9000)
        structlog.get_logger("t").debug("hidden")
    finally:
        structlog.reset_defaults()
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "ready"
    assert record["port"] == 9000
    assert record["level"] == "info"


def test_metalosc_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("serve", "ping", "config"):
        assert command in out
    with pytest.raises(SystemExit):
        main(["config", "--help"])
    out = capsys.readouterr().out
    assert "check" in out
    assert "show" in out


def test_config_check_accepts_a_usable_file(
    tmp_path: Path, tiny_bundle_paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (models,) = {path.parent for path in tiny_bundle_paths.values()}
    config = tmp_path / "metalosc.toml"
    config.write_text(f'port = 9100\nmodels = "{models}"\n')
    assert main(["config", "check", str(config)]) == 0
    assert "OK" in capsys.readouterr().out


def test_config_check_names_each_bad_key_why_and_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "metalosc.toml"
    config.write_text('lookahead = -1\nprot = 9000\nbpm = "fast"\n')
    monkeypatch.setenv("METALOSC_BUFFER_DEPTH", "0")
    assert main(["config", "check", str(config), "--no-bundles"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4
    by_key = {line.split(": ")[2]: line for line in err}
    assert "greater than 0" in by_key["lookahead"]
    assert f"from file {config}" in by_key["lookahead"]
    assert "not a setting" in by_key["prot"]
    assert "fast" in by_key["bpm"]
    assert "from env METALOSC_BUFFER_DEPTH" in by_key["buffer_depth"]


def test_config_check_of_a_missing_file_an_unreadable_one_or_broken_bundles_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", str(tmp_path / "absent.toml")]) == 2
    assert "no such file" in capsys.readouterr().err
    garbled = tmp_path / "garbled.toml"
    garbled.write_text("port = = 1\n")
    assert main(["config", "check", str(garbled)]) == 2
    assert "not a readable TOML file" in capsys.readouterr().err
    no_models = tmp_path / "no-models.toml"
    no_models.write_text(f'models = "{tmp_path / "nowhere"}"\n')
    assert main(["config", "check", str(no_models)]) == 66  # EX_NOINPUT, as serve exits
    err = capsys.readouterr().err
    assert "missing model bundle" in err
    assert "nowhere" in err
    for instrument in ("guitar", "bass", "drums"):
        (tmp_path / "garbled-models" / instrument).mkdir(parents=True)
        (tmp_path / "garbled-models" / instrument / "manifest.json").write_text("{ not json")
    garbled_models = tmp_path / "garbled-models.toml"
    garbled_models.write_text(f'models = "{tmp_path / "garbled-models"}"\n')
    assert main(["config", "check", str(garbled_models)]) == 65  # EX_DATAERR, as serve exits
    err = capsys.readouterr().err
    assert "broken model bundle" in err
    assert "manifest.json" in err


def test_config_show_says_where_each_value_came_from_as_usable_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "metalosc.toml"
    config.write_text('port = 9100\nhost = "0.0.0.0"\nriff_patterns = ["A", "AB", "AAB"]\n')
    monkeypatch.setenv("METALOSC_PORT", "9200")
    monkeypatch.setenv("METALOSC_LOOKAHEAD", "0.25")
    monkeypatch.delenv("METALOSC_METRICS_PORT")
    argv = ["config", "show", "--config", str(config), "--lookahead", "0.2", "--seed", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = {line.split(" ")[0]: line for line in out.splitlines() if not line.startswith("# ")}
    assert lines["lookahead"].endswith("# flag --lookahead")
    assert lines["port"].endswith("# env METALOSC_PORT")
    assert lines["host"].endswith(f"# file {config}")
    assert lines["bpm"].endswith("# default")
    assert "# seed" not in out  # given: printed as a value
    shown = tomllib.loads(out)
    settings = load_settings(None, **shown)
    expected = load_settings(config, lookahead=0.2, seed=4)
    assert settings == expected
    assert main([*argv, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["origins"]["port"] == "env"
    assert document["settings"]["port"] == 9200
    assert document["file"] == str(config)


def test_config_show_of_an_unset_value_is_a_comment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("# seed is unset") for line in out.splitlines())
    assert tomllib.loads(out).get("seed") is None


async def test_ping_exits_0_when_the_daemon_answers_and_1_when_none_does(
    fake_source: FakeModelSource, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(port=0, bpm=300.0, buffer_depth=4, batch_size=4, seed=1)
    async with open_server(settings, executors=fake_source) as server:
        host, port = server.address
        status = await trio.to_thread.run_sync(main, ["ping", f"{host}:{port}"])
    assert status == 0
    assert f"pong from {host}:{port} in " in capsys.readouterr().out
    # Nothing listens there now: the port answers "unreachable" at once.
    assert await trio.to_thread.run_sync(main, ["ping", f"{host}:{port}"]) == 1
    assert "nothing listens" in capsys.readouterr().err
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        argv = ["ping", f"127.0.0.1:{silent.getsockname()[1]}", "--timeout", "0.2"]
        assert await trio.to_thread.run_sync(main, argv) == 1
    assert "no answer" in capsys.readouterr().err
    assert main(["ping", "not an address"]) == 2


def test_ping_finds_the_daemon_where_the_settings_say(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("METALOSC_HOST", "0.0.0.0")
    monkeypatch.setenv("METALOSC_PORT", "9123")
    seen: list[tuple[str, int]] = []

    def fake_ping(host: str, port: int, timeout: float) -> float:
        seen.append((host, port))
        return 0.001

    monkeypatch.setattr("metalosc.server._cli.ping", fake_ping)
    assert main(["ping"]) == 0
    assert seen == [("127.0.0.1", 9123)]  # a wildcard address is pinged on loopback
    assert ping_address("::", 9000) == ("::1", 9000)
    assert ping_address("10.0.0.5", 9000) == ("10.0.0.5", 9000)


def test_third_party_warnings_and_logs_go_through_the_structured_log_once() -> None:
    """TensorFlow's ``UserWarning: tf.layers.dense is deprecated`` and its Python logger's
    deprecation notes are debug events, each once; other warnings are warning events."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            configure_logging("json", "debug", stream=stream)
            for _ in range(3):
                warnings.warn(
                    "`tf.layers.dense` is deprecated and will be removed in a future version.",
                    UserWarning,
                    stacklevel=1,
                )
            warnings.warn("something odd in a library", RuntimeWarning, stacklevel=1)
            tf_log = logging.getLogger("tensorflow")
            tf_log.warning("From x.py:1: to_float is deprecated and will be removed")
            tf_log.warning("From x.py:1: to_float is deprecated and will be removed")
            tf_log.info("Restoring parameters from model.ckpt")
            tf_log.error("could not open file")
    finally:
        structlog.reset_defaults()
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    summary = [(r["event"], r["level"], r["message"][:20]) for r in records]
    assert summary == [
        ("third_party_warning", "debug", "`tf.layers.dense` is"),
        ("third_party_warning", "warning", "something odd in a l"),
        ("third_party_log", "debug", "From x.py:1: to_floa"),
        ("third_party_log", "debug", "Restoring parameters"),
        ("third_party_log", "error", "could not open file"),
    ]
    assert records[0]["category"] == "UserWarning"
    assert records[2]["logger"] == "tensorflow"
