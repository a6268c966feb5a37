"""Long two-voice sessions through stage 06 with a trained profile: diarization error, WER against the same
utterances transcribed one by one, x real time, and peak memory of a 3-hour recording.

    PYTHONPATH=lib .venv/bin/python tools/research/long_sessions.py --profile demo --minutes 50 --hours 3

The session: the profile's ``--split`` sentences (valid unless asked; test for the rows before 2026-12-05) spoken
in turns by two of its voices (:func:`aitranscribe.sources.demo.conversation`), written as 44.1 kHz stereo with light noise. "One by one": each
sentence cut out of the same session audio (with its pause before and 0.3 s after) as its own file, transcribed
without diarization. The 3-hour recording repeats the session and is transcribed in a fresh process, whose peak
resident memory (``ru_maxrss``) is reported. Labels (the reference turns and words) are used for scoring only.
Appends one JSON line to ``reports/research/long_sessions.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.core.params import load_profile, stage_spec, validate
from aitranscribe.core import registry
from aitranscribe.evaluation.der import der
from aitranscribe.io import audio, manifest
from aitranscribe.sources import demo

SR = audio.TARGET_SR
OUT_SR = 44100


def _sentences(p: dict, split: str) -> list[str]:
    record = json.loads((Path(p["data_root"]) / p["profile"] / "stages" / "data.json").read_text())
    return manifest.read(Path(record["dir"]) / "manifests", split, check_files=False).words


def _write_stereo(path: Path, x: np.ndarray, repeat: int = 1) -> None:
    """``x`` (16 kHz) as 44.1 kHz stereo, ``repeat`` times in a row, written block by block."""
    y = audio.resample(x, SR, OUT_SR)
    with sf.SoundFile(str(path), "w", OUT_SR, 2, subtype="PCM_16") as f:
        for _ in range(repeat):
            f.write(np.stack([y, 0.9 * y], 1))


def _inference_params(p: dict, folder: Path, diarize: bool) -> dict:
    return validate({**p["inference"], "folder": str(folder), "diarize": diarize, "references": False},
                    stage_spec(registry.info("inference").load().PARAMS), "long_sessions")


def _run(p: dict, folder: Path, diarize: bool) -> tuple[dict, list[dict]]:
    from aitranscribe.core.stage import load_summary
    from aitranscribe.stages import inference

    record = inference.run(_inference_params(p, folder, diarize))
    return load_summary(record), json.loads((Path(record["dir"]) / "transcripts.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--minutes", type=float, default=50.0)
    ap.add_argument("--split", default="valid", choices=("valid", "test"),
                    help="whose sentences make the session (rows before 2026-12-05: test)")
    ap.add_argument("--hours", type=float, default=3.0, help="length of the memory check (0: skip)")
    ap.add_argument("--voices", nargs=2, default=["espeak-us-m1", "espeak-us-f2"])
    ap.add_argument("--work", default=str(REPO_ROOT / "data" / "long_sessions"))
    ap.add_argument("--data-root", default="", help="the trained profile's data root (default: the profile's)")
    args = ap.parse_args()

    specs = {s.key: s.load().PARAMS for s in registry.STAGES}
    p = load_profile(REPO_ROOT / "params" / f"{args.profile}.yaml", specs)
    if args.data_root:
        p = {key: {**values, "data_root": args.data_root} for key, values in p.items()}
    work = Path(args.work)
    voices = {v.name: v for v in demo.VOICES}
    sentences = _sentences(p["data"], args.split)
    order = []
    rng = np.random.default_rng(0)
    while sum(len(s.split()) for s in order) < args.minutes * 60 * 2.6:  # ~2.6 spoken words per second
        order += [sentences[i] for i in rng.permutation(len(sentences))]
    t0 = time.time()
    x, reference = demo.conversation([voices[v] for v in args.voices], order, seed=0)
    while len(x) / SR > args.minutes * 60 * 1.02 and len(reference) > 1:  # trim to about the asked length
        reference.pop()
        x = x[: int((reference[-1][1] + 0.5) * SR)]
    print(f"session: {len(x) / SR / 60:.1f} min, {len(reference)} sentences, built in {time.time() - t0:.0f} s")

    session_dir, single_dir = work / "session", work / "one_by_one"
    for d in (session_dir, single_dir):
        d.mkdir(parents=True, exist_ok=True)
        for f in d.glob("*"):
            f.unlink()
    _write_stereo(session_dir / "session.wav", x)
    (session_dir / "session.txt").write_text(" ".join(r[3] for r in reference))
    previous_end = 0.0
    for k, (a, b, _, words) in enumerate(reference):
        piece = x[int(previous_end * SR): int(min(b + 0.3, len(x) / SR) * SR)]
        previous_end = b
        _write_stereo(single_dir / f"u{k:05d}.wav", piece)
        (single_dir / f"u{k:05d}.txt").write_text(words)

    s_summary, s_results = _run(p, session_dir, diarize=True)
    u_summary, u_results = _run(p, single_dir, diarize=False)
    turns = [(t["start"], t["end"], t["speaker"]) for t in s_results[0]["turns"]]
    scored = der([(a, b, v) for a, b, v, _ in reference], turns)
    out = {"profile": args.profile, "split": args.split, "minutes": round(len(x) / SR / 60, 1), "sentences": len(reference),
           "voices": args.voices, "der": round(scored["der"], 4), "der_parts": {k: round(scored[k], 1) for k in
                                                                              ("missed", "false_alarm", "confusion")},
           "speakers_found": s_results[0]["n_speakers"], "utterances_cut": s_results[0]["n_utterances"],
           "wer_session": s_summary["scores"][s_summary["backend"]]["wer"],
           "per_session": s_summary["scores"][s_summary["backend"]]["per"],
           "wer_one_by_one": u_summary["scores"][u_summary["backend"]]["wer"],
           "per_one_by_one": u_summary["scores"][u_summary["backend"]]["per"],
           "x_realtime_session": round(1 / s_summary["realtime_factor"], 1),
           "x_realtime_one_by_one": round(1 / u_summary["realtime_factor"], 1),
           "peak_rss_mb_session_process": s_summary["peak_rss_mb"]}
    print(json.dumps(out, indent=1))

    if args.hours:
        long_dir = work / "three_hours"
        long_dir.mkdir(parents=True, exist_ok=True)
        for f in long_dir.glob("*"):
            f.unlink()
        _write_stereo(long_dir / "long.wav", x, repeat=int(np.ceil(args.hours * 3600 / (len(x) / SR))))
        code = ("import json,sys; sys.argv=['x']; from aitranscribe.core.stage import load_summary; "
                "from aitranscribe.stages import inference; from aitranscribe.core.logs import setup_logging; "
                "setup_logging(); p=json.loads(sys.stdin.read()); s=load_summary(inference.run(p)); "
                "print(json.dumps({k: s[k] for k in ('audio_seconds','seconds','realtime_factor','peak_rss_mb',"
                "'n_utterances','speakers')}))")
        done = subprocess.run([sys.executable, "-c", code], input=json.dumps(_inference_params(p, long_dir, True)),
                              capture_output=True, text=True, check=True)
        long = json.loads(done.stdout.strip().splitlines()[-1])
        out.update({"long_hours": round(long["audio_seconds"] / 3600, 2), "long_peak_rss_mb": long["peak_rss_mb"],
                    "long_x_realtime": round(1 / long["realtime_factor"], 1), "long_utterances": long["n_utterances"],
                    "long_speakers": long["speakers"]})
        print(json.dumps({k: v for k, v in out.items() if k.startswith("long")}, indent=1))
    out.update({"cpu": _cpu(), "time": time.strftime("%Y-%m-%d %H:%M")})
    path = REPO_ROOT / "reports" / "research" / "long_sessions.jsonl"
    with open(path, "a") as f:
        f.write(json.dumps(out) + "\n")


def _cpu() -> str:
    from aitranscribe.core.machine import cpu

    info = cpu()
    return f"{info.get('model', 'unknown')}, {info['cores']} cores"


if __name__ == "__main__":
    main()
