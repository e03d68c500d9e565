"""Progress bar for renders, on stderr: ``simulate.run(args, progress=bar)``.

The bar appears only once a render has run for `DELAY_S` seconds (short renders print
nothing), redraws at most every `REDRAW_S` seconds on one terminal line, and ends with a newline.
The CLI uses it unless ``-noprogress`` or ``-printout`` is given or stderr is not a terminal.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

DELAY_S = 1.0
REDRAW_S = 0.1
WIDTH = 30


class ProgressBar:
    """Callable ``bar(done, total)`` (pixels, as `simulate.run` reports chunks); `close()`
    finishes the line if the bar was drawn."""

    def __init__(self, stream: TextIO = sys.stderr, clock: Callable[[], float] = time.monotonic):
        self._stream = stream
        self._clock = clock
        self._start = clock()
        self._last_draw: float | None = None

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        elapsed = now - self._start
        if elapsed < DELAY_S or total <= 0:
            return
        if self._last_draw is not None and now - self._last_draw < REDRAW_S and done < total:
            return
        self._last_draw = now
        fraction = min(max(done / total, 0.0), 1.0)
        filled = int(round(WIDTH * fraction))
        remaining = elapsed * (1.0 - fraction) / fraction if fraction > 0 else float("nan")
        eta = f"{remaining:.0f} s left" if fraction < 1.0 and remaining == remaining else "done"
        self._stream.write(f"\rrendering [{'#' * filled}{'.' * (WIDTH - filled)}] "
                           f"{100 * fraction:3.0f}%  {elapsed:.0f} s, {eta}   ")
        self._stream.flush()

    def close(self) -> None:
        """End the bar's line (nothing if it was never drawn)."""
        if self._last_draw is not None:
            self._stream.write("\n")
            self._stream.flush()
            self._last_draw = None


def progress_bar(enabled: bool, stream: TextIO = sys.stderr) -> ProgressBar | None:
    """A bar on ``stream`` when ``enabled`` and ``stream`` is a terminal, else None."""
    isatty = getattr(stream, "isatty", None)
    return ProgressBar(stream) if enabled and isatty is not None and isatty() else None


def checked_render(settings, output_paths: list, render: Callable):
    """The CLIs' render step: refuse unwritable outputs first, then ``render(bar)`` with a
    progress bar (unless ``-noprogress``/``-printout``), the bar's line ended afterwards."""
    from .io.atomic import check_output_path
    for path in output_paths:
        check_output_path(path)
    bar = progress_bar(settings.progress and not settings.printout)
    try:
        return render(bar)
    finally:
        if bar is not None:
            bar.close()
