"""Every figure and setting the app shows, explained for someone new to the field.

One place for the words: the GUI's tooltips and its Help > Glossary dialog, and the
page docs/glossary.md (written by `glossary_markdown`, and checked against it by the
tests), read them here. Each entry is a term with a one-line plain explanation and a
longer paragraph. The training settings' lines come from their declarations in
`core.model.config` (`plain` and `help`), so the form, the CLI and the glossary agree.

Run `python -m siamese_gui.core.app.glossary > docs/glossary.md` to write the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from siamese_gui.core.model.config import setting_name, settings


@dataclass(frozen=True)
class Term:
    """One glossary entry.

    Attributes:
        name: the term as the app shows it ("FAR", "Distance").
        short: one plain line, for a tooltip.
        long: a paragraph with the detail, for the glossary.
        group: the heading it is listed under.
    """

    name: str
    short: str
    long: str
    group: str


_FIGURES = "Figures and verdicts"
_PAIRS = "Pairs, images and classes"
_THRESHOLDS = "Choosing the threshold"
_PANELS = "Panels"
_DATA = "Training data"
_SETTINGS = "Training settings"

# (name, short, long, group), in the order the glossary lists them.
_ENTRIES = (
    ("Distance",
     "How different the model finds two images: near 0 means alike, larger means different.",
     "The model turns each image into a list of numbers (its embedding) and measures how far "
     "apart the two lists are. Images of one class should lie close together, images of "
     "different classes far apart. With this app's models distances lie between 0 and about 2.",
     _FIGURES),
    ("Threshold",
     "The distance cut-off: pairs closer than this are judged the same, the rest different.",
     "Moving it trades one kind of mistake for the other: a larger threshold calls more pairs "
     "the same, so it catches more true matches but also lets more different pairs through. "
     "Every panel uses the same threshold.",
     _FIGURES),
    ("Verdict",
     "The model's answer for a pair: same (closer than the threshold) or different.",
     "Where the true classes are known, the app also says whether the verdict is right.",
     _FIGURES),
    ("Accuracy",
     "Of all the pairs tested, the share the model judged right.",
     "Counts both kinds of right answer: same pairs called same and different pairs called "
     "different. With far more different pairs than same ones it can look good while missing "
     "most matches, so read it beside the two error rates.",
     _FIGURES),
    ("FAR",
     "False accept rate: how often two different things are wrongly called the same.",
     "Of all pairs of different classes, the share judged the same. For a lock this is a "
     "stranger let in; lower is safer. Also called the false match rate.",
     _FIGURES),
    ("FRR",
     "False reject rate: how often two pictures of the same thing are wrongly called different.",
     "Of all pairs of one class, the share judged different. For a lock this is the owner "
     "kept out; lower is more convenient. Also called the false non-match rate.",
     _FIGURES),
    ("TAR",
     "True accept rate: how often two pictures of the same thing are rightly called the same.",
     "Of all pairs of one class, the share judged the same: 100 % minus the FRR. The "
     "Threshold panel lists it as Recall.",
     _FIGURES),
    ("Precision",
     "Of the pairs judged the same, the share that really are the same.",
     "High precision means a 'same' verdict can be trusted; it says nothing about the matches "
     "the model missed (see TAR).",
     _FIGURES),
    ("EER",
     "Equal error rate: the error when the cut-off makes both kinds of mistake equally common.",
     "At one threshold the false accept rate and the false reject rate are equal; that rate is "
     "the EER. Lower is better. It sums a model up in one number, whatever threshold is used "
     "later, which makes it handy for comparing models.",
     _FIGURES),
    ("ROC AUC",
     "How well the model tells same from different at all cut-offs: 1.0 is perfect, 0.5 is guessing.",
     "The area under the ROC curve. It is the chance that a random pair of one class lies "
     "closer than a random pair of two classes. It does not depend on the threshold.",
     _FIGURES),
    ("ROC curve",
     "For every possible cut-off, how many true matches are caught against how many false ones let in.",
     "Each point is one threshold: across, the false accept rate; up, the true accept rate. A "
     "curve hugging the top-left corner is a good model; the diagonal is guessing.",
     _FIGURES),
    ("Distance histograms",
     "Bars showing how far apart same pairs and different pairs lie; the less they overlap, the better.",
     "One colour for pairs of one class, one for pairs of two classes. The threshold line splits "
     "them: same pairs to its right are missed matches, different pairs to its left are false "
     "matches.",
     _FIGURES),
    ("95 % interval",
     "The range the true figure very likely lies in; fewer pairs tested give a wider range.",
     "A figure measured on a sample of pairs is uncertain. If the measurement were repeated on "
     "fresh pairs, the interval would hold the true value 95 times in 100.",
     _FIGURES),
    ("Accepted and rejected",
     "How many test pairs were called same (accepted) or different (rejected), and how many of each were right.",
     "Accepted wrong pairs are false accepts; rejected wrong pairs are false rejects.",
     _FIGURES),
    ("FAR at FRR",
     "How often different pairs get through when the cut-off is set to miss only a given share of true matches.",
     "The Models panel sets each model's threshold so that it wrongly rejects the same share of "
     "same pairs (5 % unless told otherwise), then compares how many different pairs each lets "
     "through. Lower is better.",
     _FIGURES),
    ("Precision@1",
     "How often an image's nearest neighbour is of its own class.",
     "Each test image in turn is the query and the others are searched; the share whose "
     "nearest other image has the query's class.",
     _FIGURES),
    ("MAP@R",
     "How well a search puts all the images of the query's class first.",
     "Mean average precision at R, where R is the number of other images of the query's class: "
     "1.0 when they all come before any other image.",
     _FIGURES),
    ("Pair",
     "Two images put side by side: a same pair shows one class twice, a different pair two classes.",
     "The model is measured on pairs: it should call same pairs the same and different pairs "
     "different.",
     _PAIRS),
    ("Class",
     "One kind of image (a digit, a shoe, a person): two images of one class should be judged the same.",
     "In an image folder each sub-folder is a class.",
     _PAIRS),
    ("Held-out images",
     "Images kept out of training, so the model is judged on pictures it has not learned.",
     "Some choose the threshold (the validation images), others measure the model (the test "
     "images); neither is trained on. Held-out pairs are pairs of these images.",
     _PAIRS),
    ("Validation pairs",
     "Pairs of images set aside from training, used only to choose the threshold.",
     "Choosing the threshold on its own pairs keeps the test figures honest: the test pairs "
     "played no part in training or in the choice.",
     _PAIRS),
    ("Test pairs",
     "Pairs of images the model never trained on, used only to measure it.",
     "The figures labelled 'expected on new images' come from these pairs.",
     _PAIRS),
    ("Seen and unseen classes",
     "Seen: kinds of image the model trained on (new pictures of them). Unseen: kinds it never saw.",
     "A model that should work on new kinds of image (new people, new products) is best judged "
     "on unseen classes. Hold out classes in the Train panel to measure that.",
     _PAIRS),
    ("Embedding",
     "The list of numbers the model turns an image into; alike images get alike lists.",
     "The distance between two images is the distance between their embeddings. Embedding size "
     "sets how many numbers the list holds.",
     _PAIRS),
    ("Model's own threshold",
     "The cut-off saved with the model, chosen when it was trained or when a threshold was saved.",
     "Training picks the threshold that judges the most held-out pairs right. 'Save threshold "
     "with model' stores the one in use instead, with how it was chosen.",
     _THRESHOLDS),
    ("Max accuracy",
     "Preset: the cut-off that judges the most held-out pairs right.",
     "Good when both kinds of mistake cost about the same.",
     _THRESHOLDS),
    ("Equal error rate",
     "Preset: the cut-off where false accepts and false rejects are equally common on the held-out pairs.",
     "A middle ground when neither mistake matters more.",
     _THRESHOLDS),
    ("FAR ≤ 1 %",
     "Preset: the largest cut-off that lets at most 1 in 100 different held-out pairs through.",
     "For uses where a false match is costly (letting the wrong person in): it misses more true "
     "matches in exchange.",
     _THRESHOLDS),
    ("Set by you",
     "A threshold typed in or picked with the slider, rather than chosen by a preset.",
     "The figures shown are still measured on the test pairs at that threshold.",
     _THRESHOLDS),
    ("Fallback threshold",
     "A safe default of 0.5, used when the model stores no threshold of its own.",
     "Try the presets to choose a better one on the validation pairs.",
     _THRESHOLDS),
    ("Compare",
     "Puts two images side by side and says how far apart the model finds them, and its verdict.",
     "The occlusion map shows which parts of an image moved the distance most.",
     _PANELS),
    ("Occlusion map",
     "Colours the parts of an image that change the model's answer most when covered up.",
     "Each small square of the image is masked in turn and the distance measured again; red to "
     "yellow marks the squares that change it most.",
     _PANELS),
    ("Gallery",
     "Many random test pairs at once, each with its distance and verdict; click one to open it in Compare.",
     "'Mistakes only' shows the pairs judged wrong; 'Hardest pairs' those furthest on the wrong "
     "side of the threshold.",
     _PANELS),
    ("Verify",
     "Judges every pair of image files listed in a CSV file, and can save the verdicts.",
     "Each row of the CSV names two images; the table gives their distance and the verdict at "
     "the threshold in use.",
     _PANELS),
    ("Search",
     "Finds the images the model thinks look most like a query image, nearest first.",
     "Each result shows its rank (#1 is nearest), its distance and the verdict at the threshold.",
     _PANELS),
    ("Map",
     "Each dot is one image, placed so that images the model finds alike lie close together.",
     "The embeddings' many numbers are squeezed into two with PCA (quick) or t-SNE (slower, "
     "keeps neighbours together better). Only nearness means something, not the axes.",
     _PANELS),
    ("Models",
     "Measures several models on the very same test pairs, so their figures can be compared fairly.",
     "Each row is one model; AUC, EER and FAR at FRR do not depend on its threshold, accuracy "
     "is read at its own threshold.",
     _PANELS),
    ("Loss",
     "How wrong the model still is on its training pairs; it should fall as training goes on.",
     "Validation loss is the same measure on images set aside from training: if it rises while "
     "the training loss falls, the model is learning its training images by heart.",
     _PANELS),
    ("Images to use",
     "Train on a random sample of this many images; 'all' uses every image.",
     "Fewer images train faster but usually give a weaker model.",
     _DATA),
    ("Classes to train on",
     "Train on these kinds of image only (names or numbers, separated by commas); empty means all.",
     "",
     _DATA),
    ("Images per class",
     "At most this many images of each kind; 'all' keeps every image.",
     "The sample is drawn with the seed, so the same seed draws the same images.",
     _DATA),
    ("Hold out classes",
     "Kinds of image kept out of training entirely, to see how the model does on ones it never saw.",
     "Give names or numbers separated by commas, or a share such as 30% to pick that many "
     "classes at random with the seed. The test figures are then measured on these unseen "
     "classes only.",
     _DATA),
)

GROUPS = (_FIGURES, _PAIRS, _THRESHOLDS, _PANELS, _DATA, _SETTINGS)


def _setting_terms() -> list[Term]:
    """The training settings' entries, from their declarations."""
    terms = []
    for spec in settings():
        meta = spec.metadata
        detail = f"In full: {meta['help']}." if meta["help"] != meta["plain"] else ""
        terms.append(Term(setting_name(spec), meta["plain"], detail, _SETTINGS))
    return terms


TERMS: dict[str, Term] = {
    entry.name: entry for entry in [Term(*e) for e in _ENTRIES] + _setting_terms()
}


def term(name: str) -> Term:
    """The entry of `name` ("FAR", "Batch size", ...).

    Raises:
        KeyError: if the glossary has no such term.
    """
    return TERMS[name]


def short(name: str) -> str:
    """The plain line of `name`, for a tooltip."""
    return TERMS[name].short


def tooltip(name: str, more: bool = False) -> str:
    """A tooltip of `name` as rich text (so it wraps): its plain line, and with `more`
    its paragraph of detail under it."""
    entry = TERMS[name]
    text = f"<p>{escape(entry.short, quote=False)}</p>"
    return text + (f"<p>{escape(entry.long, quote=False)}</p>" if more and entry.long else "")


def glossary_markdown() -> str:
    """The glossary as the Markdown page docs/glossary.md."""
    lines = ["# Glossary", "",
             "Every figure and setting Siamese GUI shows, in plain words first, then in detail.",
             "The app shows the same words in its tooltips and under Help > Glossary (F1).", "",
             "<!-- Written by `python -m siamese_gui.core.app.glossary`; edit "
             "siamese_gui/core/app/glossary.py, not this page. -->", ""]
    for group in GROUPS:
        lines += [f"## {group}", ""]
        for entry in TERMS.values():
            if entry.group == group:
                lines.append(f"**{entry.name}**: {entry.short}" + (f" {entry.long}" if entry.long else ""))
                lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(glossary_markdown(), end="")
