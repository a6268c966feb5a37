"""Report-only evaluation: error rates (PER, WER), the supervised CTC probe and diagnostics of unsupervised
training. Labels used here never feed training, stopping or selection."""
