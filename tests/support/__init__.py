"""Helpers shared by the tests (importable as ``support``: pytest puts tests/ on the path)."""
import soundfile as sf


def write_audio(path, samples, sr, subtype="PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, sr, subtype=subtype)
    return path
