"""Command line, settings, logging and sd_notify: the daemon's edges, without running it."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pytest
import structlog
from metalosc.server import ConfigError, SystemdNotifier, configure_logging, load_settings
from metalosc.server._cli import build_parser, main


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
