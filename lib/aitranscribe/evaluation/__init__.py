"""Report-only evaluation: the supervised CTC probe, report-only diagnostics of unsupervised training, the
pocketsphinx peer and the diarization error rate. Labels used here never feed training, stopping or selection
(error rates themselves are :mod:`aitranscribe.text.error_rates`)."""
