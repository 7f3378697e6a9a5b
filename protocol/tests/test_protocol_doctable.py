"""The address table in protocol/README.md is generated from the message classes and current."""

from __future__ import annotations

from pathlib import Path

import pytest
from metalosc.protocol import INCOMING, MESSAGE_TYPES, OUTGOING, message_spec
from metalosc.protocol._doctable import (
    BEGIN_MARKER,
    END_MARKER,
    README,
    is_stale,
    main,
    render_address_table,
    write,
)

REGENERATE = "python -m metalosc.protocol._doctable --write"


def test_committed_readme_table_is_current() -> None:
    assert Path(__file__).resolve().parents[1] / "README.md" == README
    assert not is_stale(README), (
        f"protocol/README.md's address table is stale: regenerate it with `{REGENERATE}`"
    )


def test_table_has_one_row_per_message_class() -> None:
    rows = [line for line in render_address_table().splitlines() if line.startswith("| `/")]
    assert len(rows) == len(MESSAGE_TYPES) == len(INCOMING) + len(OUTGOING)
    for row, cls in zip(rows, MESSAGE_TYPES, strict=True):
        spec = message_spec(cls)
        assert row.startswith(f"| `{cls.address}` |")
        assert spec.doc.split(".")[0] in row  # the meaning comes from the docstring
        for arg in spec.args:
            assert f"`{arg.name}`" in row


def test_table_shows_types_ranges_and_defaults() -> None:
    table = render_address_table()
    assert "| `/metal/tempo` | client → server | `f bpm` | `bpm`: 40..320 — beats per minute |" in (
        table
    )
    assert "`s scene`, [`i bars`]" in table
    assert "`bars`: even, 2..64 (default 8)" in table
    assert "`instrument`: guitar\\|bass\\|drums" in table
    assert "`d server_time`" in table


def stale_copy(tmp_path: Path) -> Path:
    path = tmp_path / "README.md"
    path.write_text(f"# title\n\n{BEGIN_MARKER}\n| old table |\n{END_MARKER}\n\nprose\n")
    return path


def test_write_regenerates_only_the_marked_section(tmp_path: Path) -> None:
    path = stale_copy(tmp_path)
    path.chmod(0o664)
    assert is_stale(path)
    assert write(path) is True
    assert path.stat().st_mode & 0o777 == 0o664
    text = path.read_text()
    assert text.startswith(f"# title\n\n{BEGIN_MARKER}\n| address |")
    assert text.endswith(f"{END_MARKER}\n\nprose\n")
    assert not is_stale(path)
    assert write(path) is False
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]


def test_check_command_fails_on_stale_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = stale_copy(tmp_path)
    assert main(["--check", "--readme", str(path)]) == 1
    assert "--write" in capsys.readouterr().out
    assert main(["--write", "--readme", str(path)]) == 0
    assert main(["--check", "--readme", str(path)]) == 0


def test_missing_markers_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("# no markers\n")
    with pytest.raises(ValueError, match="markers not found"):
        is_stale(path)
