"""fstvideo: real-time neural style transfer for video files, animated GIFs, images and a
live webcam window (Johnson et al. 2016). The public API is what this module exports."""
from .errors import FstError, MediaError, OptionsError, StyleError
from .frames import to_frame, to_frames, to_tensor
from .model import NetConfig, TransformerNet
from .media import MediaInfo, Stamp, open_media, open_sink, probe_kind, read_image, write_image
from .pipeline import ConvertOptions, ConvertResult, convert
from .stylizer import Stylizer, StylizerOptions
from .styles import DEFAULT_STYLE, Style, list_styles, load_style, processing_size, save_style

__version__ = "0.1.0"
