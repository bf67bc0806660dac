"""Plain words first: the glossary (`core.app.glossary`), the settings' plain lines, and
the one-sentence lead of a threshold's provenance (`Threshold.lead`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from siamese_gui.cli.commands import main
from siamese_gui.core.app.glossary import GROUPS, TERMS, glossary_markdown, short, tooltip
from siamese_gui.core.evaluation.threshold import (
    Threshold,
    ThresholdOrigin,
    fallback_threshold,
    read_threshold,
)
from siamese_gui.core.model.config import setting_help, setting_name, settings

ROOT = Path(__file__).resolve().parents[1]

# Words someone who has never heard of FAR does not know. A plain line may name another
# setting by its form label ("when Epochs is 0"), so the lower-case words match as
# written; the abbreviations match anywhere.
JARGON = re.compile(
    r"\b(FAR|FRR|TAR|EER|AUC|ROC|PCA|t-SNE|MAP|embedding|embeds?|margin|whiten\w*|histograms?|"
    r"polarity|contrastive|optimi[sz]er|epochs?|Adam|cosine|squared|stratified|batch-normalised|"
    r"validation|precision@1)\b")


def test_docs_glossary_is_the_modules_page():
    """docs/glossary.md is written from the module (`python -m siamese_gui.core.app.glossary`)."""
    page = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    assert page == glossary_markdown(), "docs/glossary.md is stale: run python -m siamese_gui.core.app.glossary"
    for entry in TERMS.values():
        assert f"**{entry.name}**: {entry.short}" in page


@pytest.mark.parametrize("name", sorted(TERMS))
def test_every_short_line_is_one_plain_sentence(name):
    entry = TERMS[name]
    assert entry.group in GROUPS
    assert entry.short and "\n" not in entry.short and entry.short.endswith("."), name
    assert len(entry.short) <= 130, f"{name}: {len(entry.short)} characters is not one line"
    found = JARGON.search(entry.short)
    assert found is None, f"{name}: {found.group(0)!r} in {entry.short!r}"


def test_every_setting_has_a_plain_line_then_its_full_help():
    for spec in settings():
        meta = spec.metadata
        assert meta["plain"] and meta["plain"] != meta["help"], spec.name
        entry = TERMS[setting_name(spec)]
        assert entry.short == meta["plain"] and meta["help"] in entry.long
        assert setting_help(spec).startswith(meta["plain"]) and meta["help"] in setting_help(spec)
        assert tooltip(setting_name(spec), more=True).startswith(f"<p>{meta['plain']}</p>")


def test_the_clis_help_leads_with_the_plain_line(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    for spec in settings():
        assert " ".join(spec.metadata["plain"].split()) in out, spec.name


def test_the_glossary_explains_the_figures_each_panel_shows():
    for name in ("FAR", "FRR", "TAR", "EER", "ROC AUC", "Accuracy", "Distance histograms", "Distance",
                 "Verdict", "Threshold", "FAR at FRR", "95 % interval", "Search", "Map", "Verify",
                 "Gallery", "Models"):
        assert short(name)
    with pytest.raises(KeyError):
        short("no such term")


# The provenance a person reads first -------------------------------------------------

ISSUE_DETAIL = ("FAR ≤ 1 % on 12,000 validation pairs (6,000 held-out validation images "
                "(Fashion-MNIST train (/usr/share/datasets/fashion-mnist), validation))")


@pytest.mark.parametrize(("threshold", "lead"), [
    (Threshold(0.23, ThresholdOrigin.PRESET, "FAR ≤ 1 % on 4,000 validation pairs (2,000 images)"),
     "Chosen on 4,000 held-out pairs to keep false matches to 1 % at most."),
    (Threshold(0.5, ThresholdOrigin.PRESET, "Max accuracy on 4,000 validation pairs (2,000 images)"),
     "Chosen on 4,000 held-out pairs to judge the most pairs right."),
    (Threshold(0.5, ThresholdOrigin.PRESET, "Equal error rate on 40 validation pairs (20 images)"),
     "Chosen on 40 held-out pairs so both kinds of mistake are equally common."),
    (Threshold(0.58, ThresholdOrigin.MODEL, ISSUE_DETAIL),
     "The model's own, chosen on 12,000 held-out pairs to keep false matches to 1 % at most."),
    # Training's own detail names the pairs another way.
    (Threshold(0.58, ThresholdOrigin.MODEL, "max accuracy on 2,000 pairs of 1,000 held-out images (x)"),
     "The model's own, chosen on 2,000 held-out pairs to judge the most pairs right."),
    (Threshold(0.9, ThresholdOrigin.USER, ""), "Set by you."),
    (fallback_threshold("the model file records no threshold"),
     "A default of 0.5: the model file records no threshold."),
    (Threshold(0.3, ThresholdOrigin.MODEL, ""), "The model's own; how it was chosen is not recorded."),
])
def test_a_thresholds_lead_is_one_short_plain_sentence(threshold, lead):
    assert threshold.lead() == lead
    assert len(lead) < 110 and JARGON.search(lead) is None
    assert threshold.detail in threshold.describe()  # the detail stays, behind the lead


def test_a_legacy_files_threshold_leads_with_how_its_figures_chose_it():
    legacy = {"threshold": 0.4, "metrics": {"validation": {"best_threshold": 0.4, "pairs": 1200}}}
    assert read_threshold(legacy, "old.json").lead() == (
        "The model's own, chosen on 1,200 held-out pairs to judge the most pairs right.")
