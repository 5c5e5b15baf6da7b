"""The worker's styles: each style file loaded once per spec (switching back is instant), the live
:class:`~fstvideo.Stylizer` kept on the settings' style, strength, colour and blend, temporal
smoothing, and the style thumbnails. Used from the worker thread only; no Qt: what happens is
reported through the callables given to :class:`StyleCache`."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from fstvideo import FstError, Smoother, SmoothOptions, Style, Stylizer, StylizerOptions, load_style, processing_size

from .settings import Settings, slider_names, thumbnail_base


class StyleCache:
    """``sync(settings)`` once per worker loop loads the settings' style if it changed (keeping
    the previous one when the new file fails); ``stylize(settings, frame)`` runs the net with the
    settings' strength, colour and blend, and smoothing when asked.

    Reports: ``loaded(spec, slider names)``, ``failed(spec, reason)``, ``say(line)`` for the
    status bar, and ``settle(field, seen, value)`` to set a Settings field back to ``value``
    unless the window changed it since ``seen`` (a style or blend that could not be used)."""

    def __init__(self, loaded: Callable[[str, list[str]], None], failed: Callable[[str, str], None],
                 say: Callable[[str], None], settle: Callable[[str, object, object], None]):
        self._loaded, self._failed, self._say, self._settle = loaded, failed, say, settle
        self._styles: dict[str, Style] = {}     # spec -> loaded file
        self._spec: str | None = None           # the spec last asked for (a failing one is not retried)
        self.stylizer: Stylizer | None = None   # the live net; None until a style loads
        self._thumbs: Stylizer | None = None    # a second net for thumbnails: the live one keeps its style
        self._smoother: Smoother | None = None  # made on first use

    def load(self, spec: str) -> Style:
        if spec not in self._styles:
            self._styles[spec] = load_style(spec)
        return self._styles[spec]

    @property
    def processing_size(self) -> int | None:
        """The live style's processing size (longest side, px), None without one or no style."""
        return processing_size(self.stylizer.style) if self.stylizer is not None else None

    def sync(self, s: Settings) -> None:
        if s.style == self._spec:
            return
        previous, self._spec = self._spec, s.style
        try:
            style = self.load(s.style)
            if self.stylizer is None:
                self.stylizer = Stylizer(style, StylizerOptions(device=s.device))
            else:
                if self.stylizer.options.blend:  # names of the old file: invalid for the new one
                    self.stylizer.set_options(replace(self.stylizer.options, blend=()))
                self.stylizer.set_style(style)
        except Exception as e:  # FstError, or anything else a bad file provokes: keep the previous style
            if previous is not None and self.stylizer is not None:
                self._settle("style", s.style, previous)  # back to the style still loaded
                self._spec = previous
            self._failed(s.style, str(e))
            if self.stylizer is not None and self._spec is not None:  # the style still loaded: its sliders again
                self._loaded(self._spec, slider_names(self.stylizer.style.styles))
            return
        self.reset_smoothing()  # don't blend the old style into the new one
        self._loaded(s.style, slider_names(style.styles))

    def stylize(self, s: Settings, frame: np.ndarray) -> tuple[np.ndarray, str]:
        """The stylized frame (the frame itself while no style is loaded) and the style's name."""
        st = self.stylizer
        if st is None:
            return frame, ""
        # The frame is already at the processing size (the worker shrinks it): the net sees all of it.
        options = StylizerOptions(device=s.device, strength=float(s.strength), preserve_color=s.preserve_color,
                                  blend=tuple(s.blend))
        if options != st.options:
            try:
                st.set_options(options)  # a new blend only re-mixes the norm weights: no rebuild
            except FstError as e:
                if not options.blend:
                    raise
                self._settle("blend", s.blend, ())  # an invalid blend (unknown name, all zero): the first style
                self._say(f"blend ignored: {e}")
                st.set_options(replace(options, blend=()))
        out = st(frame)
        if s.smooth:
            out = self._smooth(frame, out)
        return out, st.style.name

    def _smooth(self, frame: np.ndarray, out: np.ndarray) -> np.ndarray:
        try:
            if self._smoother is None:
                self._smoother = Smoother(SmoothOptions())
            return self._smoother(frame, out)
        except Exception as e:  # a failure: smoothing off, frames go on
            self._settle("smooth", True, False)
            self._say(f"temporal smoothing unavailable: {e}")
            return out

    def reset_smoothing(self) -> None:
        """Forget the previous frame (a new source or style): no blending across the cut."""
        if self._smoother is not None:
            self._smoother.reset()

    def thumbnail(self, spec: str, device: str) -> np.ndarray:
        """The fixed thumbnail picture in style ``spec``; raises what loading the file raises."""
        style = self.load(spec)
        if self._thumbs is None:
            self._thumbs = Stylizer(style, StylizerOptions(device=device))
        else:
            self._thumbs.set_style(style)
        return self._thumbs(thumbnail_base())
