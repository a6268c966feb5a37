"""A training method the kit has never seen runs through stage 05, stage 06's backends, stage 07's backends and the
reports with no change outside its own package: the package lives in this test's temporary folder and is listed
only through ``AITRANSCRIBE_METHODS``.

The toy method is label-free and deliberately simple: every train frame's k-means unit is mapped to the phone of
the same frequency rank in the unpaired phone text, and a linear frame classifier is fitted to those guesses.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from aitranscribe import pipeline
from aitranscribe.core.paths import REPO_ROOT

pytestmark = pytest.mark.slow  # runs pipeline stages end to end

TOY = '''
"""Method ``toy``: frequency-rank matching of k-means units to phones, then a linear frame classifier."""
import collections
import json
from pathlib import Path

import numpy as np
import torch

from aitranscribe.core.files import atomic_torch_save
from aitranscribe.core.metric_labels import PLAIN
from aitranscribe.core.params import Param
from aitranscribe.decoding.phones import collapse
from aitranscribe.io import feature_files
from aitranscribe.models.base import AcousticModel, frame_bounds
from aitranscribe.models.selection import unsupervised_scores
from aitranscribe.models.training import fit_labels
from aitranscribe.text import lm
from aitranscribe.text.phones import SIL, phone_lines

NAME, LABEL, STEP = "toy", "toy unit-rank matching", "epoch"
PARAMS = {"epochs": Param(2, int, "epochs of the linear classifier")}
CURVES = (("phone_lm_ppl_train", "train phone-LM perplexity (no labels)"),)
LABELS = {"epochs": ("toy classifier epochs", PLAIN)}


class Linear(torch.nn.Module):
    def __init__(self, input_dim, vocab):
        super().__init__()
        self.input_dim, self.vocab = input_dim, vocab
        self.proj = torch.nn.Linear(input_dim, vocab)

    def forward(self, x, padding=None):
        return self.proj(x)

    def config(self):
        return {"input_dim": self.input_dim, "vocab": self.vocab}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def flops(self, batch, length):
        return 2 * batch * length * self.input_dim * self.vocab

    def linear_form(self):
        return self


class ToyModel(AcousticModel):
    method, input = NAME, "frames"

    def decode(self, logits, padding):
        out = []
        for b, n in enumerate((~padding).sum(1).tolist()):
            ids = logits[b, :n].argmax(-1).numpy()
            starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
            ends = np.r_[starts[1:], n]
            logp = torch.log_softmax(logits[b, :n].float(), -1).numpy()
            out.append((np.stack([logp[a:e].mean(0) for a, e in zip(starts, ends)]), ids[starts],
                        [(int(a), int(e) - 1) for a, e in zip(starts, ends)]))
        return out

    def save(self, path):
        atomic_torch_save(path, {"kind": NAME, "net": self.net.state_dict(), "config": json.dumps(self.net.config()),
                                 "symbols": self.symbols})

    @classmethod
    def load(cls, path):
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = Linear.from_config(json.loads(state["config"]))
        net.load_state_dict(state["net"])
        return cls(net, list(state["symbols"]))


load = ToyModel.load


def train(s, out_dir, features_record, text_record, symbols, p):
    frames = feature_files.read_utterances(features_record["dir"], "train")
    units = feature_files.read_units(features_record["centroids"], "train")
    phones = collections.Counter(int(i) for line in phone_lines(text_record["phone_text"], symbols) for i in line)
    by_rank = [i for i, _ in phones.most_common()] or [symbols.index(SIL)]
    unit_rank = [u for u, _ in collections.Counter(int(u) for line in units for u in line).most_common()]
    guess = {u: by_rank[min(k, len(by_rank) - 1)] for k, u in enumerate(unit_rank)}
    labels = [np.array([guess[int(u)] for u in line]) for line in units]
    torch.manual_seed(0)
    net = fit_labels(Linear(frames[0].shape[1], len(symbols)), frames, labels, s["epochs"], 32, 1e-2, 0)
    model = ToyModel(net, symbols)
    path = Path(out_dir) / "model.pt"
    model.save(path)
    hyps = model.phones(frames)
    score = unsupervised_scores(hyps, lm.load(text_record["phone_lm"]), [x for x in symbols if x != SIL])["lm_ppl"]
    return {"run": "toy", "checkpoint": str(path), "rule": "the only model", "metric": score, "seconds": 0.0,
            "history": [{"run": "toy", "step": s["epochs"], "phone_lm_ppl_train": score}], "epochs": s["epochs"]}


def history(summary):
    return summary["history"]


def table(summary):
    return [{"run": "toy", "phone_lm_ppl_train": summary["metric"], "selected": True}]


def selected_step(summary):
    return summary["epochs"]


def metrics(summary):
    return {"method": LABEL, "seconds": summary["seconds"], "epochs": summary["epochs"]}


def report_checks(model, summary, inputs):
    return {}


def throughput(model, records, items, updates, batch_size):
    return {}
'''


def test_a_new_method_needs_no_change_outside_its_package(tmp_path):
    pipeline.run_profile(str(REPO_ROOT / "params" / "ci.yaml"), "01", "04")  # (skipped when the CI run made them)
    package = tmp_path / "plugins" / "toy_method"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(TOY)
    stages = tmp_path / "data" / "toy" / "stages"  # the CI profile's prepared data, read in place
    stages.mkdir(parents=True)
    for key in ("data", "audio_prep", "features", "text"):
        shutil.copy(REPO_ROOT / "data" / "ci" / "stages" / f"{key}.json", stages / f"{key}.json")
    profile = tmp_path / "toy.yaml"
    profile.write_text(
        f"common: {{profile: toy, data_root: {tmp_path / 'data'}, reports_dir: {tmp_path / 'reports'}}}\n"
        "train: {method: toy, toy: {epochs: 2}}\n"
        "inference: {backend: openvino, references: false, tune_acoustic_scales: []}\n"
        "benchmark: {backends: [eager, openvino], e2e_rounds: 1, e2e_utterances: 3, scale_workers: 0,\n"
        "            w2v2_backends: [fp32], w2v2_batch_sizes: [1], w2v2_repeats: 3, train_updates: 2}\n")
    env = {**os.environ, "AITRANSCRIBE_METHODS": "toy_method",
           "PYTHONPATH": os.pathsep.join([str(tmp_path / "plugins"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "aitranscribe.pipeline", "--params", str(profile), "--from", "05"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]

    reports = tmp_path / "reports" / "toy"
    metrics = json.loads((reports / "metrics.json").read_text())
    assert metrics["train.method"] == "toy unit-rank matching" and metrics["train.epochs"] == 2
    assert metrics["train.per_test"] >= 0 and metrics["inference.wer"] >= 0  # a toy: its frame runs insert phones
    assert metrics["inference.backend"] == "openvino" and metrics["inference.per_openvino"] == metrics["inference.per_eager"]
    assert metrics["benchmark.e2e_x_realtime_eager"] > 0 and "benchmark.speedup_openvino_bs1" in metrics
    assert "benchmark.train_updates_per_s_paper_sizes" in metrics  # the GAN's reference probe, whatever the method
    html = (reports / "05_train.html").read_text()
    assert "toy classifier epochs" in html and "toy unit-rank matching" in html  # the method's own labels
    for notebook in ("05_train", "06_inference", "07_benchmark"):
        assert "Key figures" in (reports / f"{notebook}.html").read_text()
    bench = json.loads(next((tmp_path / "data" / "toy" / "07_benchmark").glob("bench-*/summary.json")).read_text())
    assert set(bench["backends"]) == {"eager", "openvino"}
