"""Outputs that never clobber and index files and cards that are read bounded and checked.

Every hostile thing is made at test time inside `tmp_path`: device nodes (`mknod`, a
character device where the tests run as root, else a FIFO), symlinks at the output and at
the temp name a writer would use, an output that is the input, a model named as a CSV,
FIFOs where an index or a card should be, an inflation bomb inside an `.npz`, indexes of
the wrong width, with huge values or with paths out of their folder, and two index runs
racing on one file.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hostile_helpers import cli_limited, one_error_line

from siamese_gui.core.app.search import SearchIndex, build_index, search_index, update_index_file
from siamese_gui.core.app.verify import write_results_csv
from siamese_gui.core.errors import DatasetError, ModelFileError, SiameseError
from siamese_gui.core.io import safe_files
from siamese_gui.core.io.safe_files import OutputKind, check_output, write_atomically
from siamese_gui.core.runtime.archive import check_model_target
from siamese_gui.core.runtime.handle import ModelHandle
from tests.conftest import write_image_folder

HANG_SECONDS = 20


def make_node(path: Path) -> str:
    """A character device like /dev/null at `path` where permitted, else a FIFO; its kind."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        return "char"
    except (PermissionError, OSError):
        os.mkfifo(path)
        return "fifo"


def still_node(path: Path, kind: str) -> bool:
    mode = os.lstat(path).st_mode
    return stat.S_ISCHR(mode) if kind == "char" else stat.S_ISFIFO(mode)


def no_temps(folder: Path) -> bool:
    return not [name for name in os.listdir(folder) if ".tmp" in name]


def pairs_csv(folder: Path, sample_images) -> Path:
    path = folder / "pairs.csv"
    path.write_text(f"{sample_images[0]},{sample_images[1]}\n", encoding="utf-8")
    return path


class Projection:
    """A fixed random projection of the pixels as an embedder."""

    def __init__(self, dim: int = 8, seed: int = 0, scale: float = 1 / 28):
        self.weights = np.random.default_rng(seed).normal(size=(28 * 28, dim)).astype(np.float32) * scale

    def __call__(self, batch):
        return batch.reshape(len(batch), -1) @ self.weights


def handle_of(dim: int = 8, fingerprint: str = "model-1") -> ModelHandle:
    return ModelHandle(embedder=Projection(dim), metadata={"weights_sha256": fingerprint, "threshold": 0.5})


def returns_within(call, seconds: float = HANG_SECONDS):
    """Run `call` on a daemon thread; its result or exception, failing the test on a hang."""
    outcome = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    return outcome


# --- every command's --out: devices, symlinks, inputs, other kinds, before any work -------


def _commands(tmp_path: Path, model: Path, pairs: Path, folder: Path, out: Path) -> dict:
    return {
        "verify": ["verify", str(pairs), "--model", str(model), "--out", str(out.with_suffix(".csv"))],
        "index": ["index", str(folder), "--model", str(model), "--out", str(out.with_suffix(".npz"))],
        "export": ["export", str(model), "--format", "tflite", "--out", str(out.with_suffix(".tflite"))],
        "report": ["report", str(model), "--out", str(out.with_suffix(".html"))],
        "train": ["train", "--image-folder", str(folder), "--epochs", "1", "--out", str(out.with_suffix(".keras"))],
    }


@pytest.mark.parametrize("command", ["verify", "index", "export", "report", "train"])
def test_a_device_node_at_out_is_refused_before_any_work(command, tmp_path, saved_model, sample_images):
    folder = write_image_folder(tmp_path / "images")
    argv = _commands(tmp_path, saved_model, pairs_csv(tmp_path, sample_images), folder, tmp_path / "node")[command]
    node = Path(argv[-1])
    kind = make_node(node)
    done, _, tf = cli_limited(*argv, tmpdir=tmp_path)
    one_error_line(done, str(node), "not a regular file")
    assert still_node(node, kind)
    assert tf is False  # refused before TensorFlow (or any training) started
    assert no_temps(tmp_path)


@pytest.mark.parametrize("command", ["verify", "index", "export", "report", "train"])
def test_a_symlink_at_out_is_never_written_through(command, tmp_path, saved_model, sample_images):
    folder = write_image_folder(tmp_path / "images")
    argv = _commands(tmp_path, saved_model, pairs_csv(tmp_path, sample_images), folder, tmp_path / "link")[command]
    link = Path(argv[-1])
    victim = tmp_path / ("victim" + link.suffix)
    victim.write_bytes(b"precious")
    link.symlink_to(victim)
    done, _, tf = cli_limited(*argv, tmpdir=tmp_path)
    one_error_line(done, str(link), "symbolic link")
    assert victim.read_bytes() == b"precious" and link.is_symlink() and tf is False


def test_a_symlink_planted_at_the_temp_name_is_not_followed(tmp_path, monkeypatch):
    """Every first try of the writer's temp name is known in advance here: the planted
    link is refused by O_EXCL and another, random name is used."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    out = tmp_path / "results.csv"
    token_hex, calls = safe_files.secrets.token_hex, []

    def guessed_then_random(n):
        calls.append(n)
        return "feedbeef" if len(calls) % 2 else token_hex(n)

    monkeypatch.setattr(safe_files.secrets, "token_hex", guessed_then_random)
    (tmp_path / ".results.feedbeef.tmp.csv").symlink_to(victim)
    # The name older versions used for indexes, planted too.
    (tmp_path / ".results.csv.tmp.npz").symlink_to(victim)
    write_results_csv([], out)
    assert victim.read_bytes() == b"precious"
    assert out.read_text(encoding="utf-8").startswith("image_a,image_b")
    assert (tmp_path / ".results.feedbeef.tmp.csv").is_symlink() and len(calls) == 4  # check, then write


def test_the_old_fixed_index_temp_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim.npz"
    victim.write_bytes(b"precious")
    out = tmp_path / "g.npz"
    (tmp_path / ".g.npz.tmp.npz").symlink_to(victim)
    update_index_file(write_image_folder(tmp_path / "images"), handle_of(), out)
    assert victim.read_bytes() == b"precious" and len(SearchIndex.load(out)) == 6


def test_verify_refuses_its_own_input_as_out(tmp_path, saved_model, sample_images):
    pairs = pairs_csv(tmp_path, sample_images)
    before = pairs.read_bytes()
    (tmp_path / "sub").mkdir()
    for spelling in (pairs, tmp_path / "sub" / ".." / "pairs.csv"):
        done, _, _ = cli_limited("verify", str(pairs), "--model", str(saved_model), "--out", str(spelling),
                                 tmpdir=tmp_path)
        one_error_line(done, "is the input file")
    hard = tmp_path / "hard.csv"
    os.link(pairs, hard)
    done, _, _ = cli_limited("verify", str(pairs), "--model", str(saved_model), "--out", str(hard), tmpdir=tmp_path)
    one_error_line(done, str(hard), "is the input file")
    assert pairs.read_bytes() == before


def test_verify_never_overwrites_a_model_with_csv(tmp_path, saved_model, sample_images):
    precious = tmp_path / "precious.keras"
    shutil.copyfile(saved_model, precious)
    before = precious.read_bytes()
    pairs = pairs_csv(tmp_path, sample_images)
    done, _, tf = cli_limited("verify", str(pairs), "--model", str(saved_model), "--out", str(precious),
                              tmpdir=tmp_path)
    one_error_line(done, str(precious), "is not a results CSV")
    # The model itself as --out: it is the input, and no CSV either.
    done, _, _ = cli_limited("verify", str(pairs), "--model", str(precious), "--out", str(precious), tmpdir=tmp_path)
    one_error_line(done, str(precious), "refusing")
    assert precious.read_bytes() == before and tf is False


def test_a_regular_file_of_the_same_kind_is_replaced(tmp_path):
    out = tmp_path / "results.csv"
    out.write_text("old,results\n", encoding="utf-8")
    write_results_csv([], out)
    assert out.read_text(encoding="utf-8").startswith("image_a,image_b") and no_temps(tmp_path)


def test_train_out_is_checked_before_training(tmp_path):
    folder = write_image_folder(tmp_path / "images")
    long_name = tmp_path / ("m" * 300 + ".keras")
    done, _, tf = cli_limited("train", "--image-folder", str(folder), "--out", str(long_name), tmpdir=tmp_path)
    one_error_line(done, "file name too long")
    done, _, _ = cli_limited("train", "--image-folder", str(folder), "--out", str(tmp_path / "no" / "m.keras"),
                             tmpdir=tmp_path)
    one_error_line(done, "does not exist")
    assert tf is False


def test_an_unwritable_folder_is_refused_before_work(tmp_path):
    if os.geteuid() == 0:
        folder = Path("/proc")  # root may write anywhere but here
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
    with pytest.raises(ModelFileError, match="cannot write in folder"):
        check_model_target(folder / "m.keras")


def test_the_writer_refuses_a_folder_and_leaves_no_temp(tmp_path):
    (tmp_path / "r.csv").mkdir()
    with pytest.raises(DatasetError, match="is a folder"):
        write_results_csv([], tmp_path / "r.csv")

    def fails(handle):
        handle.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(SiameseError, match="No space left"):
        write_atomically(tmp_path / "x.txt", fails, SiameseError, "the file")
    assert sorted(os.listdir(tmp_path)) == ["r.csv"]


def test_something_planted_at_out_during_the_work_is_refused(tmp_path):
    """The target is checked again just before the rename."""
    out = tmp_path / "x.txt"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")

    def plant(handle):
        handle.write(b"new")
        out.symlink_to(victim)

    with pytest.raises(SiameseError, match="symbolic link"):
        write_atomically(out, plant, SiameseError, "the file", OutputKind("text"))
    assert victim.read_bytes() == b"precious" and out.is_symlink() and no_temps(tmp_path)


def test_check_output_names_the_path_on_one_line(tmp_path):
    node = tmp_path / "n.csv"
    make_node(node)
    with pytest.raises(SiameseError) as info:
        check_output(node, OutputKind("results CSV"))
    assert str(info.value).startswith(str(node)) and "\n" not in str(info.value)


def test_two_index_runs_on_one_out_each_report_their_own_folder(tmp_path, monkeypatch):
    """Both runs are held inside their writes at once; each installs its own whole file."""
    folders = [write_image_folder(tmp_path / name, per_class=2 + i, seed=i) for i, name in enumerate("ab")]
    out = tmp_path / "shared.npz"
    handle = handle_of()
    barrier = threading.Barrier(2, timeout=60)
    savez = np.savez

    def held_savez(target, **arrays):
        barrier.wait()  # both runs are writing now
        savez(target, **arrays)
        barrier.wait()  # and both have written before either renames

    monkeypatch.setattr(np, "savez", held_savez)
    results, errors = {}, []

    def run(folder):
        try:
            results[folder] = update_index_file(folder, handle, out)[0]
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in folders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    for folder in folders:
        expected = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
        assert results[folder].root == folder.resolve() and sorted(results[folder].paths) == expected
    final = SearchIndex.load(out)
    winner = next(f for f in folders if final.root == f.resolve())
    assert sorted(final.paths) == sorted(p.relative_to(winner).as_posix() for p in winner.rglob("*.png"))
    assert no_temps(tmp_path)


# --- bounded readers: FIFOs, bombs, non-array members -------------------------------------


def test_a_fifo_index_fails_at_once(tmp_path, sample_images, saved_model):
    fifo = tmp_path / "g.npz"
    os.mkfifo(fifo)
    outcome = returns_within(lambda: SearchIndex.load(fifo))
    assert isinstance(outcome.get("error"), ModelFileError) and "not a regular file" in str(outcome["error"])
    done, _, _ = cli_limited("search", str(sample_images[0]), "--index", str(fifo), "--model", str(saved_model),
                             timeout=HANG_SECONDS * 3, tmpdir=tmp_path)
    one_error_line(done, str(fifo), "not a regular file")


def test_a_fifo_card_fails_at_once(tmp_path):
    from siamese_gui.core.runtime.copies import card_path, find_runtime_copy, read_card

    copy = tmp_path / "m.tflite"
    copy.write_bytes(b"\0" * 64)
    os.mkfifo(card_path(copy))
    outcome = returns_within(lambda: read_card(copy))
    assert isinstance(outcome.get("error"), ModelFileError) and "not a regular file" in str(outcome["error"])
    assert returns_within(lambda: find_runtime_copy(tmp_path / "m.keras", "0" * 64)).get("value") is None


def test_a_fifo_card_does_not_hang_compare(tmp_path, saved_model, sample_images, cli):
    from siamese_gui.core.runtime.copies import card_path, runtime_copy_path

    model = tmp_path / "m.keras"
    shutil.copyfile(saved_model, model)
    if runtime_copy_path(saved_model).exists():
        shutil.copyfile(runtime_copy_path(saved_model), runtime_copy_path(model))
    os.mkfifo(card_path(runtime_copy_path(model)))
    done = cli("compare", str(sample_images[0]), str(sample_images[1]), "--model", str(model), "--json",
               timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["distance"] >= 0


@pytest.mark.parametrize("content", [b"{" * 100_000, b"[" * 5000 + b"]" * 5000])
def test_a_deep_card_is_one_error(tmp_path, content):
    from siamese_gui.core.runtime.copies import card_path, read_card

    copy = tmp_path / "m.tflite"
    copy.write_bytes(b"\0" * 64)
    card_path(copy).write_bytes(content)
    with pytest.raises(ModelFileError, match="nested"):
        read_card(copy)


def test_a_huge_card_is_refused_unread(tmp_path):
    from siamese_gui.core.runtime.copies import MAX_CARD_BYTES, card_path, read_card

    copy = tmp_path / "m.tflite"
    copy.write_bytes(b"\0" * 64)
    with open(card_path(copy), "wb") as handle:
        handle.truncate(MAX_CARD_BYTES * 64)  # sparse: large, costs no disk
    with pytest.raises(ModelFileError, match="over the"):
        read_card(copy)


def _bomb(path: Path, member: str = "paths.npy", megabytes: int = 256) -> Path:
    """A few hundred KiB that inflate to `megabytes` MiB of zeros (streamed, never held)."""
    block = b"\0" * 2**20
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo(member)
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as handle:
            for _ in range(megabytes):
                handle.write(block)
    return path


def test_an_npz_bomb_is_refused_unread(tmp_path, sample_images, saved_model):
    bomb = _bomb(tmp_path / "bomb.npz")
    assert bomb.stat().st_size < 2 * 2**20
    with pytest.raises(ModelFileError, match="inflate"):
        SearchIndex.load(bomb)
    done, peak, _ = cli_limited("search", str(sample_images[0]), "--index", str(bomb), "--model", str(saved_model),
                                tmpdir=tmp_path)
    one_error_line(done, str(bomb), "inflate")
    assert peak is not None and peak < 200  # MiB: the member was never inflated


def test_an_npz_with_a_non_array_member_is_refused(tmp_path):
    index, _ = build_index(write_image_folder(tmp_path / "images"), handle_of())
    path = index.save(tmp_path / "g.npz")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", b"x" * 1000)
    with pytest.raises(ModelFileError, match="notes.txt"):
        SearchIndex.load(path)


def test_an_object_array_member_is_refused(tmp_path):
    """A pickled member is never unpickled."""
    index, _ = build_index(write_image_folder(tmp_path / "images"), handle_of())
    arrays = _arrays_of(index)
    arrays["classes"] = np.array(list(index.classes), dtype=object)
    path = tmp_path / "pickled.npz"
    _savez_object(path, arrays)
    with pytest.raises(ModelFileError, match="classes"):
        SearchIndex.load(path)


def test_a_forged_npy_header_is_refused_before_allocating(tmp_path, built):
    """A member whose header claims 10^12 floats but holds a few bytes."""
    arrays = _arrays_of(built)
    path = tmp_path / "forged.npz"
    header = np.lib.format.header_data_from_array_1_0(arrays["embeddings"])
    header["shape"] = (10**6, 10**6)
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w") as handle:
                if name == "embeddings":
                    np.lib.format.write_array_header_1_0(handle, header)
                    handle.write(b"\0" * 64)
                else:
                    np.lib.format.write_array(handle, np.asanyarray(value))
    outcome = returns_within(lambda: SearchIndex.load(path))
    assert isinstance(outcome.get("error"), ModelFileError) and "header claims" in str(outcome["error"])


def _savez_object(path: Path, arrays: dict) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w") as handle:
                np.lib.format.write_array(handle, np.asanyarray(value), allow_pickle=True)


# --- index contents checked against the model ----------------------------------------------


def _arrays_of(index: SearchIndex) -> dict:
    return {
        "format": np.int64(1), "embeddings": np.asarray(index.embeddings, np.float32),
        "paths": np.asarray(index.paths, dtype=str), "hashes": np.asarray(index.hashes, dtype=str),
        "classes": np.asarray(index.classes, dtype=str), "fingerprint": np.asarray(index.fingerprint),
        "root": np.asarray(str(index.root)), "model_name": np.asarray(index.model_name),
    }


def _write(tmp_path: Path, index: SearchIndex, **changes) -> Path:
    """`index` saved with some arrays replaced, as a forger would."""
    path = tmp_path / "tampered.npz"
    np.savez(path, **{**_arrays_of(index), **changes})
    return path


@pytest.fixture
def built(tmp_path):
    return build_index(write_image_folder(tmp_path / "images"), handle_of())[0]


def test_a_wrong_width_index_is_refused_for_search_and_update(tmp_path, built, sample_images):
    from siamese_gui.core.io.images import load_image

    path = built.save(tmp_path / "g.npz")
    before = path.read_bytes()
    narrow = handle_of(dim=4)  # same fingerprint, another width: a damaged or forged index
    index = SearchIndex.load(path)
    with pytest.raises(ModelFileError, match="values"):
        index.check_model(narrow, path)
    with pytest.raises(ModelFileError, match="values"):
        search_index(index, narrow, load_image(sample_images[0]), 3)
    with pytest.raises(ModelFileError, match="values"):
        update_index_file(tmp_path / "images", narrow, path)
    assert path.read_bytes() == before  # the wrong-width vectors were not written back


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan, 3e38, 1e7])
def test_non_finite_or_huge_embeddings_are_refused(tmp_path, built, value):
    embeddings = built.embeddings.copy()
    embeddings[1, 2] = value
    path = _write(tmp_path, built, embeddings=embeddings)
    with pytest.raises(ModelFileError, match="embeddings"):
        SearchIndex.load(path)


@pytest.mark.parametrize("stored", ["../../etc/passwd", "/etc/passwd", "a/../../x.png", "./x.png", "C:/x.png", ""])
def test_paths_outside_the_indexed_folder_are_refused(tmp_path, built, stored):
    paths = list(built.paths)
    paths[0] = stored
    path = _write(tmp_path, built, paths=np.asarray(paths, dtype=str))
    with pytest.raises(ModelFileError, match="path"):
        SearchIndex.load(path)


def test_search_json_is_strict_json(tmp_path, saved_model, sample_images, cli):
    folder = write_image_folder(tmp_path / "images")
    out = tmp_path / "g.npz"
    assert cli("index", str(folder), "--model", str(saved_model), "--out", str(out)).returncode == 0
    done = cli("search", str(sample_images[0]), "--index", str(out), "--model", str(saved_model), "--json")
    assert done.returncode == 0, done.stderr[-2000:]

    def refuse(token):
        raise ValueError(f"{token} in the output")

    result = json.loads(done.stdout, parse_constant=refuse)
    assert all(np.isfinite(hit["distance"]) for hit in result["results"])


def test_search_prints_index_text_escaped(tmp_path, saved_model, sample_images, cli):
    """Class names and file names reach the terminal escaped, from a folder or an index."""
    folder = tmp_path / "gallery"
    write_image_folder(folder)
    first = sorted(p for p in folder.iterdir() if p.is_dir())[0]
    hostile = first.rename(folder / "red\x1b[31m")
    for image in hostile.iterdir():
        image.rename(hostile / ("\u202e" + image.name))
    out = tmp_path / "g.npz"
    assert cli("index", str(folder), "--model", str(saved_model), "--out", str(out)).returncode == 0
    for source in (["--gallery", str(folder)], ["--index", str(out)]):
        done = cli("search", str(sample_images[0]), *source, "--model", str(saved_model), "--top", "6")
        assert done.returncode == 0, done.stderr[-2000:]
        assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
        assert "red\\x1b[31m" in done.stdout and "\\u202e" in done.stdout
