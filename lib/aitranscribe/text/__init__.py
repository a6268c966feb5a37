"""The text side: normalisation and the English filter, phonemization, phone conventions (``<SIL>``, folds,
references), KenLM n-gram language models."""
