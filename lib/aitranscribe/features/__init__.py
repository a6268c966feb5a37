"""From audio to model inputs: MFCC, speaker normalisation, wav2vec 2.0, VAD, k-means units, PCA, merged and
pooled segments, and the train-fitted transform for new audio."""
