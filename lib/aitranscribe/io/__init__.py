"""Reading and writing data: audio (16 kHz mono conversion), fairseq manifests and VAD files, feature files,
checksummed downloads and safe archive extraction."""
