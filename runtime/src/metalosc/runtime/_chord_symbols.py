"""Chord symbols as note_seq reads them, without importing note_seq.

note_seq's ``chord_symbols_lib`` parses a symbol ("Am7", "C(add9)/G") into a root and scale
degrees, and its ``TriadChordOneHotEncoding`` reads that as one of 48 triads or "no chord" — what
the chord-conditioned bass is fed. The daemon's model workers need exactly that reading (to encode
the bass's chord controls and to score a bass against its chords) but must not import note_seq,
whose package import alone takes seconds and ~130 MB (it loads librosa, pandas, bokeh). So the
parser is restated here: the same grammar (root, kind, degree modifications, bass), the same kind
table, the same errors. ``runtime/tests/test_runtime_chord_symbols.py`` holds it equal to
note_seq's on every symbol of the grammar it generates.
"""

from __future__ import annotations

import re

__all__ = [
    "NO_CHORD",
    "TRIAD_CLASSES",
    "ChordSymbolError",
    "chord_symbol_pitches",
    "chord_symbol_root",
    "triad_index",
    "triad_symbol",
]

NO_CHORD = "N.C."
"""note_seq's symbol for "no chord"."""
TRIAD_CLASSES = 49
"""Classes of the triad encoding: "no chord", then 12 roots each of major, minor, augmented and
diminished triads (note_seq's ``TriadChordOneHotEncoding``)."""

_PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_STEP_PITCH = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_DEGREE_OFFSETS = {1: 0, 2: 2, 3: 4, 4: 5, 5: 7, 6: 9, 7: 11}
#: note_seq's chord kinds: abbreviations and scale degrees, in its order (the parser tries the
#: abbreviations in this order, so the order is part of the grammar).
_KINDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("", "maj", "M"), ("1", "3", "5")),
    (("m", "min", "-"), ("1", "b3", "5")),
    (("+", "aug"), ("1", "3", "#5")),
    (("o", "dim"), ("1", "b3", "b5")),
    (("7",), ("1", "3", "5", "b7")),
    (("maj7", "M7"), ("1", "3", "5", "7")),
    (("m7", "min7", "-7"), ("1", "b3", "5", "b7")),
    (("o7", "dim7"), ("1", "b3", "b5", "bb7")),
    (("+7", "aug7"), ("1", "3", "#5", "b7")),
    (("m7b5", "-7b5", "/o", "/o7"), ("1", "b3", "b5", "b7")),
    (
        (
            "mmaj7",
            "mM7",
            "minmaj7",
            "minM7",
            "-maj7",
            "-M7",
            "m(maj7)",
            "m(M7)",
            "min(maj7)",
            "min(M7)",
            "-(maj7)",
            "-(M7)",
        ),
        ("1", "b3", "5", "7"),
    ),
    (("6",), ("1", "3", "5", "6")),
    (("m6", "min6", "-6"), ("1", "b3", "5", "6")),
    (("9",), ("1", "3", "5", "b7", "9")),
    (("maj9", "M9"), ("1", "3", "5", "7", "9")),
    (("m9", "min9", "-9"), ("1", "b3", "5", "b7", "9")),
    (("+9", "aug9"), ("1", "3", "#5", "b7", "9")),
    (("6/9",), ("1", "3", "5", "6", "9")),
    (("11",), ("1", "3", "5", "b7", "9", "11")),
    (("maj11", "M11"), ("1", "3", "5", "7", "9", "11")),
    (("m11", "min11", "-11"), ("1", "b3", "5", "b7", "9", "11")),
    (("13",), ("1", "3", "5", "b7", "9", "11", "13")),
    (("maj13", "M13"), ("1", "3", "5", "7", "9", "11", "13")),
    (("m13", "min13", "-13"), ("1", "b3", "5", "b7", "9", "11", "13")),
    (("sus2",), ("1", "2", "5")),
    (("sus", "sus4"), ("1", "4", "5")),
    (("sus7", "7sus"), ("1", "4", "5", "b7")),
    (("ped",), ("1",)),
    (("5",), ("1", "5")),
)
_KIND_DEGREES: dict[str, tuple[str, ...]] = {}
for _abbrevs, _kind_degrees in _KINDS:
    for _abbrev in _abbrevs:
        _KIND_DEGREES.setdefault(_abbrev, _kind_degrees)
#: Degree modifications: name -> (operation, alteration in semitones).
_MODIFICATIONS = {
    "add": ("add", 0),
    "add#": ("add", 1),
    "addb": ("add", -1),
    "no": ("subtract", 0),
    "#": ("alter", 1),
    "b": ("alter", -1),
}
_ROOT = r"[A-G](?:#*|b*)(?![#b])"
_SYMBOL = re.compile(
    "({})({})({})({})$".format(
        _ROOT,
        "|".join(re.escape(a) for a in _KIND_DEGREES),
        r"(?:\(?(?:{})[0-9]+\)?)*".format("|".join(re.escape(m) for m in _MODIFICATIONS)),
        "|/" + _ROOT,
    )
)
_MODIFICATION = re.compile(
    r"\(?({})([0-9]+)\)?".format("|".join(re.escape(m) for m in _MODIFICATIONS))
)
_DEGREE = re.compile(r"(#*|b*)([0-9]+)$")
_PITCH_CLASS = re.compile(r"([A-G])(#*|b*)$")


class ChordSymbolError(ValueError):
    """A chord symbol the grammar cannot read, or (for the triad encoding) one that is no triad."""


def _alteration(accidentals: str) -> int:
    return len(accidentals) * (1 if "#" in accidentals else -1)


def _pitch_class(text: str) -> int:
    match = _PITCH_CLASS.match(text)
    if match is None:  # pragma: no cover - the symbol pattern only lets pitch classes through
        raise ChordSymbolError(f"Unable to parse pitch class: {text}")
    step, accidentals = match.groups()
    return (_STEP_PITCH[step] + _alteration(accidentals)) % 12


def _split(figure: str) -> tuple[str, str, str, str]:
    match = _SYMBOL.match(figure)
    if match is None:
        raise ChordSymbolError(f"Unable to parse chord symbol: {figure}")
    root, kind, modifications, bass = match.groups()
    return root, kind, modifications, bass


def _degrees(figure: str) -> tuple[int, dict[int, int]]:
    """(root pitch class, {scale degree: alteration}) of a symbol, modifications applied."""
    root, kind, modifications, _ = _split(figure)
    degrees: dict[int, int] = {}
    for name in _KIND_DEGREES[kind]:
        match = _DEGREE.match(name)
        assert match is not None
        degrees[int(match.group(2))] = _alteration(match.group(1))
    while modifications:
        match = _MODIFICATION.match(modifications)
        assert match is not None
        assert match.end() > 0
        operation, alter = _MODIFICATIONS[match.group(1)]
        degree = int(match.group(2))
        if operation == "add":
            if degree in degrees:
                raise ChordSymbolError(f"Scale degree already in chord: {degree}")
            degrees[degree] = alter - 1 if degree == 7 else alter
        elif operation == "subtract":
            if degree not in degrees:
                raise ChordSymbolError(f"Scale degree not in chord: {degree}")
            del degrees[degree]
        else:
            degrees[degree] = degrees.get(degree, 0) + alter
        modifications = modifications[match.end() :]
    return _pitch_class(root), degrees


def chord_symbol_root(figure: str) -> int:
    """The root pitch class (0..11) of a chord symbol; ``ChordSymbolError`` if unreadable."""
    return _pitch_class(_split(figure)[0])


def chord_symbol_pitches(figure: str) -> list[int]:
    """The pitch classes (0..11) a chord symbol contains, in the order note_seq lists them;
    ``ChordSymbolError`` if unreadable."""
    root, degrees = _degrees(figure)
    return [
        (root + _DEGREE_OFFSETS[(degree - 1) % 7 + 1] + alter) % 12
        for degree, alter in degrees.items()
    ]


_TRIADS = {(0, 0, 0): 0, (0, -1, 0): 1, (0, 0, 1): 2, (0, -1, -1): 3}


def triad_index(figure: str) -> int:
    """The triad encoding's class of a chord symbol: 0 for "N.C.", else ``1 + 12·q + root`` with q
    = 0 major, 1 minor, 2 augmented, 3 diminished. ``ChordSymbolError`` for an unreadable symbol
    or one whose triad is none of these (a power chord "E5", a sus chord)."""
    if figure == NO_CHORD:
        return 0
    root, degrees = _degrees(figure)
    quality = None
    if 1 in degrees and 3 in degrees and 5 in degrees:
        quality = _TRIADS.get((degrees[1], degrees[3], degrees[5]))
    if quality is None:
        raise ChordSymbolError(f"chord is not a standard triad: {figure}")
    return 1 + 12 * quality + root


def triad_symbol(index: int) -> str:
    """The symbol of triad class ``index`` (0..48) as note_seq spells it ("C", "C#m", "Ebaug",
    "Bdim", or "N.C." for 0). ``ValueError`` outside 0..48."""
    if not 0 <= index < TRIAD_CLASSES:
        raise ValueError(f"triad class must be in 0..{TRIAD_CLASSES - 1}, got {index}")
    if index == 0:
        return NO_CHORD
    quality, root = divmod(index - 1, 12)
    return _PITCH_NAMES[root] + ("", "m", "aug", "dim")[quality]
