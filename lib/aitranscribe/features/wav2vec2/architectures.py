"""fairseq's wav2vec 2.0 architectures (BASE, LARGE and a tiny one for tests and CI) and the analytic compute of
the network up to a layer (:func:`count_flops`)."""
from __future__ import annotations

import logging



from .network import Wav2Vec2Settings

log = logging.getLogger(__name__)

_FAIRSEQ_CONV = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2  # 320 samples a frame: 50 a second

ARCHITECTURES = {
    # fairseq's wav2vec_small.pt (BASE, LibriSpeech 960 h): post-norm, group norm in the first conv block only
    "base": Wav2Vec2Settings(conv_layers=_FAIRSEQ_CONV),
    # fairseq's wav2vec_vox_new.pt (LARGE, LibriVox 60k h), the features of wav2vec-U: pre-norm, layer norm in every
    # conv block, conv bias, waveform normalised
    "large": Wav2Vec2Settings(conv_layers=_FAIRSEQ_CONV, extractor_mode="layer_norm", conv_bias=True,
                              encoder_layers=24, encoder_embed_dim=1024, encoder_ffn_embed_dim=4096,
                              encoder_attention_heads=16, layer_norm_first=True, normalize=True),
    # LARGE's layout at a size tests and CI can afford (same 320-sample frame)
    "tiny": Wav2Vec2Settings(conv_layers=((32, 10, 5),) + ((32, 3, 2),) * 4 + ((32, 2, 2),) * 2,
                             extractor_mode="layer_norm", conv_bias=True, encoder_layers=2, encoder_embed_dim=64,
                             encoder_ffn_embed_dim=128, encoder_attention_heads=4, conv_pos=16, conv_pos_groups=4,
                             layer_norm_first=True, normalize=True),
}


def architecture_of(settings: Wav2Vec2Settings) -> str | None:
    """The name in :data:`ARCHITECTURES` whose shapes ``settings`` has (depth, widths, conv stack), else None."""
    def shape(s):
        return (s.conv_layers, s.extractor_mode, s.encoder_layers, s.encoder_embed_dim, s.encoder_ffn_embed_dim,
                s.encoder_attention_heads, s.layer_norm_first, s.conv_pos, s.conv_pos_groups)

    return next((name for name, a in ARCHITECTURES.items() if shape(a) == shape(settings)), None)


def count_flops(settings: Wav2Vec2Settings, num_samples: int, layer: int, batch: int = 1) -> dict:
    """Floating-point operations (2 per multiply-add) of the network up to transformer block ``layer`` (0-based).

    Inputs: the architecture, the waveform length in samples, the layer, the batch size. Output: a dict of GFLOP
    counts ``conv`` (front end), ``projection`` (feature projection), ``pos_conv``, ``transformer`` and ``total``,
    and ``frames`` (T, output frames per utterance).
    The matrix products only, counted exactly; norms, GELU, softmax and residual additions are O(T*D) and left out
    (under 1% of the total at BASE and LARGE sizes):

    * conv front end: sum over conv blocks i of 2 * C_in * C_out * k * T_i frames, T_i = (T_(i-1) - k) // s + 1
      (T_0 = samples, C_in = 1 for the first block);
    * projection: 2 * T * C * D when the last conv width C differs from the model width D;
    * positional convolution (groups G, kernel K): 2 * T * D * (D / G) * K;
    * each of the ``layer + 1`` blocks: 8 * T * D^2 (q, k, v and output projections) + 4 * T^2 * D (attention
      scores and their weighted sum over all heads) + 4 * T * D * F (the two feed-forward matrices, width F).

    With T = 49 frames per second of audio this gives ~4.9 GFLOP per second for the front end, ~14 for BASE up to
    its last block and ~24 for LARGE up to layer 14.
    """
    s = settings
    t, c_in, conv = int(num_samples), 1, 0
    for c_out, kernel, stride in s.conv_layers:
        t = (t - kernel) // stride + 1 if t >= kernel else 0
        conv += 2 * c_in * c_out * kernel * t
        c_in = c_out
    if s.crop_seq_to_multiple > 1:
        t -= t % s.crop_seq_to_multiple
    d, f = s.encoder_embed_dim, s.encoder_ffn_embed_dim
    projection = 2 * t * c_in * d if c_in != d else 0
    pos_conv = 2 * t * d * (d // s.conv_pos_groups) * s.conv_pos
    block = 8 * t * d * d + 4 * t * t * d + 4 * t * d * f
    parts = {"conv": conv, "projection": projection, "pos_conv": pos_conv, "transformer": (int(layer) + 1) * block}
    out = {k: batch * v / 1e9 for k, v in parts.items()}
    out["total"] = sum(out.values())
    out["frames"] = t
    return out
