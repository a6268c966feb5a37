"""Transcription workers for sharded runs (:mod:`aitranscribe.scale.executor`, in this process or on Ray workers).

Each factory loads what one worker needs once (the selected model, its backend calibrated and warmed up on the same
utterances as an unsharded run, the word and phone searches; for folders also the VAD and the train-fitted features
pipeline) and returns ``process(shard) -> (payload, bad items)``:

- :func:`split_worker`: a shard's items are utterance indices of a prepared split; payload: their results (see
  :func:`~aitranscribe.transcription.transcribe.transcribe`), batched from the shard's first utterance.
- :func:`folder_worker`: a shard is one recording (its path relative to the folder); payload: its transcript
  (:func:`~aitranscribe.transcription.recordings.transcribe_recording`), or None with the recording reported as bad.

``records``: the stage records ``train``, ``features``, ``audio_prep`` and ``text``; ``p``: stage 06's parameters.
"""
from __future__ import annotations

from pathlib import Path

from .. import backends, models
from ..core.stage import done_params
from ..features.extract import TrainedTransform
from ..features.vad import Detector
from ..io import audio
from . import recordings
from . import transcribe as tr
from ..decoding.phones import GraphPhones
from ..decoding.words import GraphWords


def timing(records: dict) -> tuple[float, float]:
    """Frame shift and window (seconds) of stage 03's features."""
    return records["features"]["frame_shift_s"], records["features"]["frame_window_s"]


def decoders(p: dict, model, text_record: dict, scale: float):
    """The word and phone searches of ``p`` for ``model`` (None where the model's own decoding is used)."""
    words = GraphWords(text_record["word_graph"], model.stay, scale, p["graph_beam"]) if p["words"] else None
    phones = (GraphPhones(text_record["phone_graph"], model.stay, p["phone_scale"], p["graph_beam"])
              if p["phone_search"] == "graph" else None)
    return words, phones


def calibrated_runner(p: dict, model, items: list[dict], features_record: dict):
    """The backend of ``p`` for ``model`` on the features of ``features_record``, calibrated on the first four batches of ``items`` and warmed up once
    (torch.compile compiles here), as an unsharded run does."""
    calibration = [b for _, b in tr.batches(items[: 4 * p["batch_size"]], p["batch_size"])]
    runner = backends.make(p["backend"], model.inference_net(features_record), calibration)
    runner(*calibration[0])
    return runner


def split_worker(p: dict, records: dict, scale: float):
    """One worker transcribing shards of utterances of the split ``p['split']`` (see the module docstring)."""
    model = models.load(records["train"]["checkpoint"])
    items = tr.split_items(model, p["split"], records)
    runner = calibrated_runner(p, model, items, records["features"])
    words, phones = decoders(p, model, records["text"], scale)

    def process(shard):
        chunk = [items[i] for i in shard.items]
        return tr.transcribe(chunk, runner, model, words, timing(records), p["batch_size"], phones), []

    return process


def folder_worker(p: dict, records: dict, scale: float, folder: str, out_dir: str):
    """One worker transcribing recordings of ``folder`` one shard each (see the module docstring); a recording is
    converted to 16 kHz mono under ``out_dir/audio`` for the time of its transcription only."""
    model = models.load(records["train"]["checkpoint"])
    detect = Detector(done_params(records["audio_prep"]["dir"]))
    transform = TrainedTransform(records["features"])
    runner = calibrated_runner(p, model, tr.split_items(model, "valid", records), records["features"])
    words, phones = decoders(p, model, records["text"], scale)
    settings = recordings.Settings(p["pause_s"], p["max_utterance_s"], p["diarize"], p["n_speakers"] or None)

    def decode(items):
        return tr.transcribe(items, runner, model, words, timing(records), p["batch_size"], phones)

    def process(shard):
        (rel,) = shard.items
        converted = Path(out_dir) / "audio" / Path(rel).with_suffix(".flac")
        try:
            audio.convert_to_16k_mono(Path(folder) / rel, converted)
            reader = audio.AudioReader(converted)
            result = recordings.transcribe_recording(reader, Path(rel).with_suffix("").as_posix(), detect, transform,
                                                     model, decode, settings)
            return result, []
        except Exception as exc:  # noqa: BLE001 - one bad recording must not lose the others
            reason = exc.reason if hasattr(exc, "reason") else f"{type(exc).__name__}: {exc}"
            return None, [{"item": str(Path(folder) / rel), "reason": reason}]
        finally:
            converted.unlink(missing_ok=True)  # the original is the user's; times are on its time line

    return process
