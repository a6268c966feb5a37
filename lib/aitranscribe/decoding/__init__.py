"""Graph search over a model's per-step scores: phones and words with times (phone n-gram and lexicon + word
n-gram graphs), the word graph's acoustic scale chosen without labels, timing and subtitles. Used by the training
methods and by transcription; it knows no model, backend or method."""
