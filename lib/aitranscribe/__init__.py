"""AI Transcribe: unsupervised speech recognition (wav2vec-U) on CPUs, stage by stage."""
import logging

from .core.errors import BadInputError, KitError, ParamsError

__all__ = ["BadInputError", "KitError", "ParamsError"]
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
