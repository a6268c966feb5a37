"""From model outputs to text: phones and words with times on the original recording, subtitles, transcription of
prepared splits and folders."""
