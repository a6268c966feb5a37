"""wav2vec 2.0 features from fairseq checkpoints, without fairseq.

``load_wav2vec2(path)`` reads a fairseq wav2vec 2.0 checkpoint -- a pretrained ``Wav2Vec2Model``
(weights at the top level) or a fine-tuned ``Wav2VecCtc`` (weights under
``w2v_encoder.w2v_model.``), Base or Large, with its configuration in the old ``args``
(argparse.Namespace) or the newer ``cfg`` (dict or omegaconf DictConfig) -- into this module's own
torch model, and ``extract(model, waveform, layer)`` returns the output of one transformer block,
as fairseq's ``model.extract_features(source, None, layer=layer)["x"]`` would.

Layer numbering is fairseq's: ``layer`` is 0-based, ``layer=k`` is the output of transformer block
k+1, and the valid range is ``0 .. encoder_layers-1``. As in fairseq, asking for a layer never
applies the encoder's final layer norm of a ``layer_norm_first`` (Large "vox"/XLS-R style) model,
not even for the last layer; ``layer=None`` gives the full model output, with that final norm.
With ``layer_norm_first=False`` (Base, Large LS-960) the encoder layer norm comes before the first
block, so it is part of every layer's output.

Loading is weights-only (``torch.load(..., weights_only=True)``): only tensors, plain containers,
argparse.Namespace, numpy scalars and (when omegaconf is installed) omegaconf containers are
unpickled; a checkpoint holding any other Python object is refused, never loaded unsafely.

Eval only: no masking, quantizer, or pretraining heads (their weights may be present, and are ignored).

Also here: :data:`ARCHITECTURES` (fairseq's BASE and LARGE settings, and a tiny one for tests and CI),
:func:`count_flops` (the analytic compute of the network up to a layer) and :func:`save_random_checkpoint`
(randomly initialised weights written in fairseq's own checkpoint format, read back through
:func:`load_wav2vec2` like any fairseq file: what the speed benchmark uses when a profile has no checkpoint).
"""
from .architectures import ARCHITECTURES, architecture_of, count_flops
from .checkpoint import FINETUNED_PREFIX, fairseq_state_dict, load_wav2vec2, save_random_checkpoint
from .network import FRONT_END_FORMS, Wav2Vec2Encoder, Wav2Vec2Settings, extract, use_front_end_form

__all__ = ["Wav2Vec2Settings", "Wav2Vec2Encoder", "load_wav2vec2", "extract", "FINETUNED_PREFIX", "ARCHITECTURES",
           "count_flops", "save_random_checkpoint", "architecture_of", "fairseq_state_dict", "FRONT_END_FORMS",
           "use_front_end_form"]
