"""The G-code subset the GRBL twin understands, parsed into a block of words or an error code.

Lines arrive pre-filtered as GRBL's own protocol loop does (interface.md of ``gnea/grbl``,
and its ``protocol.c``): spaces and control characters dropped, ``(...)`` and ``;`` comments
removed, letters upper-cased. What is understood:

* ``G0`` rapid, ``G1`` linear move (modal motion; axis words alone move in the current mode),
  ``G38.2``/``G38.3`` straight probe toward the target, stopping at contact (``.2`` raises
  ``ALARM:5`` without contact, ``.3`` does not), ``G4 P<s>`` dwell, ``G17``, ``G20``/``G21``
  inch/mm, ``G53`` machine coordinates (one block), ``G54``, ``G90``/``G91``
  absolute/incremental, ``G94``;
* ``M0``-free programs: ``M2``, ``M30``, ``M5``, ``M9`` are accepted and do nothing;
* words ``X Y Z F P N S T``.

Errors use GRBL's codes (``doc/csv/error_codes_en_US.csv``): 1 no letter, 2 bad number, 4
negative feed, 20 unsupported command, 21 modal group violation, 22 no feed rate, 25 repeated
word, 26 no axis words for a probe, 28 missing P for G4, 36 unused words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["PROBE", "PROBE_NO_ERROR", "Block", "parse_block", "prefilter"]

PROBE = 382
"""``G38.2``: probe toward the workpiece, alarm if no contact."""
PROBE_NO_ERROR = 383
"""``G38.3``: probe toward the workpiece, no alarm without contact."""
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")
_MODAL_GROUPS = {
    0: "motion",
    1: "motion",
    4: "non_modal",
    53: "non_modal",
    17: "plane",
    20: "units",
    21: "units",
    54: "coordinates",
    90: "distance",
    91: "distance",
    94: "feed_mode",
    PROBE: "motion",
    PROBE_NO_ERROR: "motion",
}
_DECIMAL_CODES = {"38.2": PROBE, "38.3": PROBE_NO_ERROR}
_M_CODES = frozenset({2, 5, 9, 30})
_VALUE_WORDS = frozenset("XYZFPNST")


@dataclass
class Block:
    """One parsed G-code line.

    Args:
        g: G codes by modal group (``{"motion": 1, "units": 21}``).
        words: value words (``{"X": 10.0, "F": 600.0}``).
    """

    g: dict[str, int] = field(default_factory=dict)
    words: dict[str, float] = field(default_factory=dict)

    @property
    def axes(self) -> dict[str, float]:
        """The axis words (``X``, ``Y``, ``Z``) given."""
        return {axis: self.words[axis] for axis in "XYZ" if axis in self.words}


def prefilter(raw: str) -> str:
    """What GRBL keeps of a raw line: no spaces, controls or comments; upper case."""
    kept = []
    in_parentheses = False
    for char in raw:
        if in_parentheses:
            in_parentheses = char != ")"
            continue
        if char == "(":
            in_parentheses = True
        elif char == ";":
            break
        elif " " < char <= "~":
            kept.append(char.upper())
    return "".join(kept)


def parse_block(line: str) -> Block | int:
    """Parse a prefiltered line into a :class:`Block`, or return GRBL's error code."""
    block = Block()
    index = 0
    while index < len(line):
        letter = line[index]
        if not ("A" <= letter <= "Z"):
            return 1
        match = _NUMBER.match(line, index + 1)
        if match is None:
            return 2
        text = match.group(0)
        index = match.end()
        value = float(text)
        if letter == "G":
            code = _g_code(text)
            if code is None:
                return 20
            group = _MODAL_GROUPS[code]
            if group in block.g:
                return 21
            block.g[group] = code
        elif letter == "M":
            if not text.isdigit() or int(text) not in _M_CODES:
                return 20
        elif letter in _VALUE_WORDS:
            if letter in block.words:
                return 25
            block.words[letter] = value
        else:
            return 20
    return _check(block)


def _g_code(text: str) -> int | None:
    if text in _DECIMAL_CODES:
        return _DECIMAL_CODES[text]
    if not text.replace(".", "", 1).isdigit() or "." in text:
        return None
    code = int(text)
    return code if code in _MODAL_GROUPS else None


def _check(block: Block) -> Block | int:
    feed = block.words.get("F")
    if feed is not None and feed < 0:
        return 4
    if block.g.get("non_modal") == 4:
        if "P" not in block.words:
            return 28
        if block.words["P"] < 0:
            return 4
        if block.axes:
            return 36
    elif "P" in block.words:
        return 36
    if block.g.get("motion") in (PROBE, PROBE_NO_ERROR) and not block.axes:
        return 26
    return block
