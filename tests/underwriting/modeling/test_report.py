"""The training report's SHAP plots: shap's own beeswarm summary and dependence plots, drawn from the
SHAP values training computed on its validation sample. The files, their place in the manifest and
in report.html, byte-identical redraws, and the pyplot and random-state hygiene a worker needs.

Synthetic (X, y) sets as in test_training.py; the admin serving them is in test_admin.py.
"""

import datetime as dt
import hashlib
import json
import re
import struct
import threading
from pathlib import Path

import numpy as np
import time_machine

from config import clock
from tests.underwriting.modeling.test_train import SPECS
from underwriting.features.history import day_number
from underwriting.modeling.artifact import load_artifact, write_artifact
from underwriting.modeling.dataset import TrainingSet
from underwriting.modeling.report import CHARTS, SHAP_CHARTS, write_shap_charts
from underwriting.modeling.train import train_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_training_keeps_the_sample_behind_the_importance(trained):
    # Given a trained model
    n = trained.metrics["shap"]["sample"]

    # Then it keeps the validation sample's SHAP matrix (base value last) and feature values
    assert trained.shap_values.shape == (n, len(SPECS) + 1)
    assert trained.shap_data.shape == (n, len(SPECS))
    # the values the importance was computed from, for exactly those rows
    mean_abs = np.abs(trained.shap_values[:, :-1]).mean(axis=0)
    by_name = dict(zip(trained.feature_names, mean_abs, strict=True))
    assert [i["mean_abs_shap"] for i in trained.importance] == [by_name[i["feature"]] for i in trained.importance]
    assert np.array_equal(trained.contributions(trained.shap_data), trained.shap_values)
    assert np.isnan(trained.shap_data).any()  # missing values stay missing (grey in the plots)


def test_the_artifact_holds_shaps_plots_checksummed_and_shown_in_the_report(trained, store):
    # When the artifact is written
    path = write_artifact(trained, store=store)

    # Then the beeswarm and one dependence plot per top feature are real PNGs of a useful size
    manifest = json.loads((path / "manifest.json").read_text())
    html = (path / "report.html").read_text()
    for name in SHAP_CHARTS:
        data = (path / name).read_bytes()
        width, height = png_size(data)
        assert width >= 500 and height >= 400 and len(data) > 20_000, name
        assert b"tIME" not in data and b"matplotlib" not in data  # no timestamp, no software stamp
        # listed in the manifest with their checksum and size
        assert manifest["files"][name] == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        # and shown in the report, each after a paragraph on how to read it
        assert re.search(rf'</h3>\n<p>[^<]{{200,}}</p>\n<img src="{re.escape(name)}" alt="[^"]+">', html), name
    load_artifact(path)  # every checksum verified

    # The dependence plots follow the importance ranking; the report names each feature
    top = trained.importance[:4]
    positions = [html.index(f"({i['feature']})</h3>") for i in top]
    assert positions == sorted(positions)
    assert "Each row is a feature, the most influential at the top" in html
    assert html.count("Each dot is one validation loan") == 4
    assert f"SHAP summary and dependence ({trained.metrics['shap']['sample']:,} validation loans)" in html
    # and the report says whether the trees, the scorecard or both decide, with the log losses behind it
    assert "<h2>Trees or scorecard</h2>" in html and f"Weights: trees {trained.blend.trees:.4g}" in html
    for name, loss in trained.blend.logloss.items():
        assert f"<td>{name}</td><td>{loss:.5f}</td>" in html


def test_two_writes_of_the_same_model_are_byte_identical(trained, store):
    # Given two writes of one model, with numpy's global generator in different states before each
    # (shap shuffles and jitters its dots with it)
    # at one frozen instant (the report says when it was written: the clock must not cross a minute)
    with time_machine.travel(clock.now(), tick=False):
        np.random.seed(1)
        first = write_artifact(trained, store=store)
        np.random.seed(2)
        before = np.random.get_state()
        second = write_artifact(trained, store=store)

    # Then every chart is the same bytes
    for name in (*CHARTS, *SHAP_CHARTS):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    # the report differs only by its version label
    assert (first / "report.html").read_text().replace(first.name, "V") == (
        (second / "report.html").read_text().replace(second.name, "V"))
    # and the caller's random state is left as it was
    after = np.random.get_state()
    assert after[0] == before[0] and np.array_equal(after[1], before[1]) and after[2:] == before[2:]


def test_concurrent_drawing_in_threads_gives_the_same_bytes_and_leaks_no_figure(trained, tmp_path):
    import matplotlib.pyplot as plt

    # Given the plots drawn once alone
    alone = tmp_path / "alone"
    alone.mkdir()
    write_shap_charts(trained, alone)

    # When two threads draw them at once (a threaded worker)
    errors = []

    def draw(directory: Path):
        try:
            directory.mkdir()
            write_shap_charts(trained, directory)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=draw, args=(tmp_path / f"t{k}",)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Then each got the same bytes, and pyplot holds no figure afterwards
    assert errors == []
    for k in range(2):
        for name in SHAP_CHARTS:
            assert (tmp_path / f"t{k}" / name).read_bytes() == (alone / name).read_bytes(), name
    assert plt.get_fignums() == []


def test_a_dependence_plot_is_coloured_by_the_feature_it_interacts_with(tmp_path):
    # Given loans whose refund rate raises the risk only when the (otherwise meaningless) "Noise a" is
    # positive
    rng = np.random.default_rng(3)
    n = 6000
    X = rng.normal(size=(n, len(SPECS)))
    logit = -2.3 - 0.9 * X[:, 0] + 1.6 * X[:, 1] * (X[:, 2] > 0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    days = np.sort(rng.integers(day_number(dt.date(2024, 1, 1)), day_number(dt.date(2025, 12, 31)), n))
    model = train_model(TrainingSet(X=X, y=y, originated_on=days, specs=SPECS), seed=1)

    # When the plots are drawn
    charts = {c.title.rsplit("(", 1)[1].rstrip(")"): c for c in write_shap_charts(model, tmp_path)[1:]}

    # Then the refund rate's dependence plot is coloured by Noise a, and the report says so
    assert "\u201cNoise a\u201d (red high, blue low)" in charts["refund_rate"].how_to_read
    assert sorted(p.name for p in tmp_path.iterdir()) == list(SHAP_CHARTS)


def test_a_model_without_a_kept_sample_gets_the_report_without_shaps_plots(trained, store):
    import dataclasses

    # Given a model that kept no SHAP sample (built by hand, say)
    bare = dataclasses.replace(trained, shap_values=None, shap_data=None)

    # Then its artifact is the report and the three charts, as before
    path = write_artifact(bare, store=store)
    assert not any((path / name).exists() for name in SHAP_CHARTS)
    assert set(json.loads((path / "manifest.json").read_text())["files"]) == {"model.txt", "report.html", *CHARTS}
    assert "shap_beeswarm.png" not in (path / "report.html").read_text()
    load_artifact(path)
