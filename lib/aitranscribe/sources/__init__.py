"""Where a corpus comes from (stage 01): the embedded demo (synthesized offline), LibriSpeech (OpenSLR download) or a
folder of the user's recordings. Each module has ``build(p, out_dir) -> dict``."""
