"""Transcription of prepared splits and folders of recordings with a trained model and a backend: items, batches,
phones and words with times, output files (:mod:`.transcribe`), long recordings cut at pauses and diarized
(:mod:`.recordings`), and the workers of sharded runs (:mod:`.workers`)."""
