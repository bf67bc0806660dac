"""Batch verification: a CSV of image pairs in, distance and verdict for each pair out.

The input has two columns, the two image paths (relative paths are relative to the CSV's
folder); a header row is optional and further columns are ignored. A row that cannot be
scored (a missing column, an unreadable image) is kept with an error message; the other
rows are still scored. Each distinct image is decoded and embedded once.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from siamese_gui.core.data.datasets import IMAGE_SUFFIXES
from siamese_gui.core.errors import Cancelled, DatasetError, ImageError
from siamese_gui.core.evaluation.metrics import Verdict, verdict_of
from siamese_gui.core.io.images import load_image
from siamese_gui.core.io.safe_files import (
    OutputKind,
    check_output,
    looks_like_text,
    read_regular_file,
    write_atomically,
)
from siamese_gui.core.io.untrusted import csv_cell
from siamese_gui.core.model.embedding import CHUNK

MAX_CSV_BYTES = 32 * 2**20
MAX_ROWS = 200_000
# An existing file at the output is replaced only if it is text (a CSV); never a model,
# an index or a PDF someone named by mistake.
RESULTS_KIND = OutputKind("results CSV (text)", looks_like_text)
RESULT_COLUMNS = ("image_a", "image_b", "distance", "verdict", "threshold", "error")
_HEADER_WORDS = {"image_a", "image_b", "a", "b", "path_a", "path_b", "image1", "image2",
                 "left", "right", "first", "second", "image", "path", "file_a", "file_b"}


@dataclass(frozen=True)
class PairRow:
    """One row of a pairs CSV.

    Attributes:
        line: the row's line number in the file (1-based), for messages.
        image_a: the first path as written in the file.
        image_b: the second path as written in the file.
        path_a: `image_a` resolved against the CSV's folder (None if the cell is empty).
        path_b: likewise for `image_b`.
        error: why the row cannot be scored ("" when it can).
    """

    line: int
    image_a: str
    image_b: str
    path_a: Path | None
    path_b: Path | None
    error: str = ""


@dataclass(frozen=True)
class VerifyResult:
    """The outcome for one row.

    Attributes:
        line: line number in the input CSV.
        image_a: first path as written.
        image_b: second path as written.
        distance: embedding distance, or None when the row failed.
        verdict: same/different at `threshold`, or None when the row failed.
        threshold: the threshold the verdict used.
        error: the problem with this row ("" when it was scored).
        pictures: the two images as the model saw them, uint8 (H, W) or (H, W, 3) each (None for
            an image that could not be read), for thumbnails and to open the pair again;
            an image in several rows is one shared array.
    """

    line: int
    image_a: str
    image_b: str
    distance: float | None
    verdict: Verdict | None
    threshold: float
    error: str = ""
    pictures: tuple[np.ndarray | None, np.ndarray | None] = field(default=(None, None), compare=False,
                                                                  repr=False)

    @property
    def ok(self) -> bool:
        return not self.error


def _resolve(cell: str, folder: Path) -> Path | None:
    if not cell:
        return None
    path = Path(cell).expanduser()
    return path if path.is_absolute() else folder / path


def _looks_like_header(cells: list[str], folder: Path) -> bool:
    """Whether the first row names columns rather than images."""
    first = [c.strip() for c in cells[:2]]
    if any(c.lower() in _HEADER_WORDS for c in first):
        return True
    # A header cell is neither an existing file nor named like an image file.
    return all(
        c and Path(c).suffix.lower() not in IMAGE_SUFFIXES and not (folder / c).exists() for c in first
    )


def read_pairs_csv(path: str | os.PathLike, max_rows: int = MAX_ROWS) -> list[PairRow]:
    """Read a CSV of image pairs.

    Args:
        path: the CSV file: two columns (first image, second image), optional header.
        max_rows: the most pairs read.

    Returns:
        One `PairRow` per non-blank data row; rows with fewer than two paths carry an error.

    Raises:
        DatasetError: if the file is missing, too large, not text, has no rows, or more
            than `max_rows` rows.
    """
    path = Path(path)
    raw = read_regular_file(path, MAX_CSV_BYTES, DatasetError, "CSV file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a UTF-8 text file (expected a CSV of two image paths)") from None
    if "\0" in text:
        raise DatasetError(f"{path}: not a text file (expected a CSV of two image paths)")
    folder = path.parent
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows: list[PairRow] = []
    reader = csv.reader(io.StringIO(text), dialect)
    first = True
    try:
        for cells in reader:
            line = reader.line_num
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue
            if first:
                first = False
                if _looks_like_header(cells, folder):
                    continue
            if len(rows) >= max_rows:
                raise DatasetError(f"{path}: more than {max_rows:,} pairs; split the file")
            a = cells[0] if cells else ""
            b = cells[1] if len(cells) > 1 else ""
            error = ""
            if not a or not b:
                error = f"{path.name} line {line}: needs two image paths, found {int(bool(a)) + int(bool(b))}"
            rows.append(PairRow(line, a, b, _resolve(a, folder), _resolve(b, folder), error))
    except csv.Error as exc:
        raise DatasetError(f"{path}: malformed CSV ({exc})") from None
    if not rows:
        raise DatasetError(f"{path}: no pairs found (expected rows of two image paths)")
    return rows


def verify_pairs(
    handle,
    rows: Sequence[PairRow],
    threshold: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    invert: bool | None = None,
) -> list[VerifyResult]:
    """Score each row: decode and embed every distinct image once, then measure each pair.

    Args:
        handle: a `core.inference.ModelHandle`.
        rows: from `read_pairs_csv`.
        threshold: the threshold for the verdicts (the model's own when None).
        progress: called with (images done, distinct images).
        should_stop: polled between chunks; `Cancelled` is raised when it turns true.
        invert: polarity handling for `load_image` (None detects it per image).

    Returns:
        One `VerifyResult` per row, in order.
    """
    threshold = float(handle.threshold.value if threshold is None else threshold)
    unique: dict[Path, int] = {}
    for row in rows:
        if not row.error:
            for p in (row.path_a, row.path_b):
                unique.setdefault(p, len(unique))
    paths = list(unique)
    embeddings: dict[Path, np.ndarray] = {}
    pictures: dict[Path, np.ndarray] = {}
    failures: dict[Path, str] = {}
    for start in range(0, len(paths), CHUNK):
        if should_stop is not None and should_stop():
            raise Cancelled()
        chunk_paths, images = [], []
        for p in paths[start : start + CHUNK]:
            try:
                images.append(load_image(p, invert=invert, image_format=handle.image_format))
                chunk_paths.append(p)
            except ImageError as exc:
                failures[p] = str(exc)
        if images:
            vectors = np.asarray(handle.embed(np.stack(images), should_stop=should_stop), np.float64)
            embeddings.update(zip(chunk_paths, vectors))
            # uint8: a quarter of the float input's memory, and all a thumbnail needs.
            pictures.update((p, np.round(np.clip(i, 0, 1) * 255).astype(np.uint8))
                            for p, i in zip(chunk_paths, images))
        if progress is not None:
            progress(min(start + CHUNK, len(paths)), len(paths))
    results = []
    for row in rows:
        error = row.error or "; ".join(failures[p] for p in (row.path_a, row.path_b) if p in failures)
        seen = (pictures.get(row.path_a), pictures.get(row.path_b))
        if error:
            results.append(VerifyResult(row.line, row.image_a, row.image_b, None, None, threshold, error,
                                        seen))
            continue
        distance = float(np.sqrt(np.sum((embeddings[row.path_a] - embeddings[row.path_b]) ** 2)))
        results.append(VerifyResult(row.line, row.image_a, row.image_b, distance,
                                    verdict_of(distance, threshold), threshold, pictures=seen))
    return results


def rejudge(results: Sequence[VerifyResult], threshold: float) -> list[VerifyResult]:
    """The same results with verdicts at another threshold (distances do not change)."""
    return [
        replace(r, threshold=float(threshold)) if not r.ok
        else replace(r, threshold=float(threshold), verdict=verdict_of(r.distance, threshold))
        for r in results
    ]


def result_cells(result: VerifyResult) -> list[str]:
    """One output row, in `RESULT_COLUMNS` order."""
    return [
        result.image_a,
        result.image_b,
        "" if result.distance is None else f"{result.distance:.6f}",
        "" if result.verdict is None else result.verdict.value,
        f"{result.threshold:.6f}",
        result.error,
    ]


def check_results_target(path: str | os.PathLike, inputs=()) -> Path:
    """Refuse a results path before any pair is scored (see `safe_files.check_output`).

    Raises:
        DatasetError: if the path is refused (a symlink, device, an input, not a CSV...).
    """
    return check_output(path, RESULTS_KIND, DatasetError, inputs)


def write_results_csv(results: Sequence[VerifyResult], path: str | os.PathLike, inputs=()) -> Path:
    """Write the results as CSV (`RESULT_COLUMNS`), atomically: all of it or nothing.

    Args:
        results: the rows.
        path: the CSV to write; an existing file there is replaced only if it is text.
        inputs: files the output must not be (the pairs CSV, the model).

    Raises:
        DatasetError: if the path is refused or the file cannot be written.
    """
    def write(handle) -> None:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(RESULT_COLUMNS)
        writer.writerows([csv_cell(cell) for cell in result_cells(r)] for r in results)
        text.flush()
        text.detach()

    return write_atomically(Path(path), write, DatasetError, "the results", RESULTS_KIND, inputs)


@dataclass(frozen=True)
class VerifySummary:
    """Counts over a batch of results."""

    pairs: int
    scored: int
    same: int
    different: int
    errors: int


def summarize(results: Sequence[VerifyResult]) -> VerifySummary:
    """How many rows were scored, judged same or different, or failed."""
    same = sum(1 for r in results if r.verdict is Verdict.SAME)
    different = sum(1 for r in results if r.verdict is Verdict.DIFFERENT)
    errors = sum(1 for r in results if not r.ok)
    return VerifySummary(len(results), same + different, same, different, errors)


def verify_csv(
    handle,
    csv_path: str | os.PathLike,
    threshold: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[VerifyResult]:
    """`read_pairs_csv` then `verify_pairs`."""
    return verify_pairs(handle, read_pairs_csv(csv_path), threshold, progress, should_stop)
