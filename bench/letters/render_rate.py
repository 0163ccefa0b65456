"""Letters rendered per second: every kind, HTML and text, with the Code's items checked.

Run: `uv run python bench/letters/render_rate.py [--letters 2000]`
"""

from __future__ import annotations

import sys
from pathlib import Path

# The benchmarks reuse the tests' sample letters, so run them from anywhere in the repo.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import time
from datetime import date

from putright.letters.content import LetterFacts
from putright.letters.rendering import UNBRANDED, render, verify
from putright.shared.events import LetterKind
from putright.shared.events.values import Stage
from tests.letters.samples import LETTERS_AT_EACH_STAGE, facts_for

LAYOUT = {
    "logo": '<img src="https://landlord.example/logo.png" alt="Landlord">',
    "colours": "h1, h2 { color: #006400; }",
    "footer": "<p>Registered in England.</p>",
}


def rate(
    letters: int, suite: list[tuple[LetterKind, LetterFacts]], *, check: bool
) -> tuple[float, float]:
    """Letters per second, and CPU milliseconds per letter, over `letters` renders cycling
    through the suite (CPU time is steadier than the rate on a shared machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    for index in range(letters):
        kind, facts = suite[index % len(suite)]
        rendered = render(
            kind, facts, letterhead=UNBRANDED, written_on=date(2026, 11, 25), layout=LAYOUT
        )
        if check:
            assert verify(kind, facts, rendered) == []
    used = (time.process_time() - cpu) * 1000 / letters
    return letters / (time.perf_counter() - started), used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--letters", type=int, default=2000)
    arguments = parser.parse_args()
    suite = [(kind, facts_for(kind, stage)) for kind, stage in LETTERS_AT_EACH_STAGE]
    rate(len(suite) * 5, suite, check=True)  # warm the template cache
    responses = [(LetterKind.STAGE2_RESPONSE, facts_for(LetterKind.STAGE2_RESPONSE, Stage.TWO))]
    for label, letters, check in (
        ("rendered (HTML + text)", suite, False),
        ("rendered and checked (a–g etc.)", suite, True),
        ("stage 2 responses, checked", responses, True),
    ):
        per_second, cpu_ms = rate(arguments.letters, letters, check=check)
        print(f"{label + ':':34} {per_second:8.0f} letters/s")
        print(f"{label + ', CPU per letter:':50} {cpu_ms:8.3f} ms")


if __name__ == "__main__":
    main()
