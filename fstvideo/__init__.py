"""fstvideo: real-time neural style transfer for video files, animated GIFs, images and a
live webcam window (Johnson et al. 2016). The public API is what this module exports; the
window (``fstvideo.gui``) is built on it alone."""
from .capture import MICROSECONDS, CameraSource, FileLoop, LatestFrame
from .errors import FstError, MediaError, OptionsError, StyleError
from .fastnet import FastNet, PyramidNet
from .frames import to_frame, to_frames, to_tensor
from .media import (
    REALTIME_PRESET,
    MediaInfo,
    Stamp,
    VideoOptions,
    open_media,
    open_sink,
    probe_kind,
    read_image,
    write_image,
)
from .model import FAST_CONFIG, JohnsonNet, NetConfig, StyleNet, build_net
from .pipeline import ConvertOptions, ConvertResult, FrameStylizer, convert
from .styles import (
    DEFAULT_STYLE,
    PHOTO_SLOT,
    Style,
    bundled_dir,
    list_styles,
    load_style,
    processing_size,
    save_style,
    trained_scale,
)
from .styles import resolve as resolve_style
from .styles import resolve_fast as resolve_fast_style
from .stylizer import Stylizer, StylizerOptions, pick_device
from .temporal import Smoother, SmoothOptions
from .vcam import VcamOptions, VirtualCamera

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_STYLE", "FAST_CONFIG", "MICROSECONDS", "PHOTO_SLOT", "REALTIME_PRESET", "CameraSource", "ConvertOptions",
    "ConvertResult", "FastNet", "FileLoop", "FrameStylizer", "FstError", "JohnsonNet", "LatestFrame", "MediaError",
    "MediaInfo", "NetConfig", "OptionsError", "PyramidNet", "SmoothOptions", "Smoother", "Stamp", "Style", "StyleError",
    "StyleNet", "Stylizer", "StylizerOptions", "VcamOptions", "VideoOptions", "VirtualCamera", "build_net",
    "bundled_dir",
    "convert", "list_styles", "load_style", "open_media", "open_sink", "pick_device", "probe_kind", "processing_size",
    "read_image", "resolve_fast_style", "resolve_style", "save_style", "to_frame", "to_frames", "to_tensor",
    "trained_scale", "write_image",
]
