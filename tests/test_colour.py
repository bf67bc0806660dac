"""Colour and size: the image format is the model's, one pipeline reads grey and colour."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamese_gui.core.data.datasets import choose_image_format, load_image_folder
from siamese_gui.core.errors import ConfigError, ModelFileError
from siamese_gui.core.io.image_format import FIELD, GREY_28, ImageFormat, format_of
from siamese_gui.core.io.images import decode_image, has_colour, is_blank, load_image

COLOUR_32 = ImageFormat(32, 32, 3)
RED, BLUE = (0, 0, 255), (255, 0, 0)  # OpenCV writes BGR


def _png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def _square(colour, side: int = 40, box: tuple[int, int, int] = (10, 10, 16)) -> np.ndarray:
    """A filled square of `colour` (BGR) on white."""
    image = np.full((side, side, 3), 255, np.uint8)
    top, left, size = box
    image[top : top + size, left : left + size] = colour
    return image


def write_colour_folder(root: Path, per_class: int = 12, seed: int = 0) -> Path:
    """Red squares and blue squares (sizes and places vary) as two classes of PNGs."""
    rng = np.random.default_rng(seed)
    for name, colour in (("red", RED), ("blue", BLUE)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            size = int(rng.integers(10, 24))
            top, left = (int(v) for v in rng.integers(2, 40 - size - 2, 2))
            (folder / f"{i:02d}.png").write_bytes(_png(_square(colour, 40, (top, left, size))))
    return root


# --- the format ----------------------------------------------------------------------------


def test_format_round_trip_and_limits():
    fmt = ImageFormat(40, 24, 3)
    assert ImageFormat.from_dict(fmt.as_dict()) == fmt
    assert ImageFormat.from_input_shape((None, 40, 24, 3)) == fmt
    assert fmt.image_shape == (40, 24, 3) and GREY_28.image_shape == (28, 28)
    assert format_of({}) == GREY_28  # models saved before the format was recorded
    for bad in ({"height": 28, "width": 28, "channels": 2}, {"height": 4, "width": 28, "channels": 1},
                {"height": "28", "width": 28, "channels": 1}, [28, 28, 1]):
        with pytest.raises(ConfigError):
            ImageFormat.from_dict(bad, "m.keras")


def test_metadata_with_a_wrong_format_is_refused():
    from siamese_gui.core.runtime.metadata_schema import check_metadata

    check_metadata({FIELD: COLOUR_32.as_dict()}, "m.keras")
    with pytest.raises(ModelFileError, match="m.keras.*image_format"):
        check_metadata({FIELD: {"height": 28, "width": 28, "channels": 4}}, "m.keras")


# --- the pipeline --------------------------------------------------------------------------


def test_colour_keeps_rgb_and_grey_stays_as_it_was():
    data = _png(_square(RED))
    colour = decode_image(data, "red.png", image_format=COLOUR_32)
    assert colour.shape == (32, 32, 3) and colour.dtype == np.float32
    assert np.allclose(colour[16, 16], (1, 0, 0)) and np.allclose(colour[0, 0], (1, 1, 1))
    grey = decode_image(data, "red.png")
    assert grey.shape == (28, 28) and np.array_equal(grey, decode_image(data, "red.png", image_format=GREY_28))
    assert not is_blank(colour)


def test_red_and_blue_are_apart_in_colour_and_alike_in_grey_shape():
    red = decode_image(_png(_square(RED)), "r", image_format=COLOUR_32)
    blue = decode_image(_png(_square(BLUE)), "b", image_format=COLOUR_32)
    assert np.abs(red - blue).max() > 0.9
    assert has_colour(red) and not has_colour(np.repeat(red.mean(axis=2, keepdims=True), 3, axis=2))


def test_transparency_is_composited_over_white_in_colour():
    image = np.zeros((30, 30, 4), np.uint8)  # fully transparent black
    image[10:16, 5:25] = (255, 0, 0, 255)  # an opaque blue bar
    out = decode_image(_png(image), "icon.png", image_format=COLOUR_32)
    # Cropped to the bar and letterboxed: above and below it, transparency became white.
    assert np.allclose(out[0, 16], (1, 1, 1)) and np.allclose(out[-1, 16], (1, 1, 1))
    assert np.allclose(out[16, 16], (0, 0, 1))


def test_colour_letterbox_pads_with_the_background_colour():
    wide = np.full((20, 60, 3), (0, 200, 0), np.uint8)  # a green page
    wide[5:15, 5:55] = (0, 0, 255)  # a red bar across it
    out = decode_image(_png(wide), "wide.png", image_format=COLOUR_32)
    green = np.array([0, 200 / 255, 0], np.float32)
    assert np.allclose(out[0, 16], green, atol=0.02) and np.allclose(out[-1, 16], green, atol=0.02)
    assert np.allclose(out[16, 16], (1, 0, 0), atol=0.02)


def _jpeg_with_orientation(image: np.ndarray, orientation: int) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    data = encoded.tobytes()
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    app1 = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


def test_exif_orientation_turns_colour_images_upright():
    image = np.full((40, 40, 3), 255, np.uint8)
    image[:, :20] = BLUE  # left half blue as stored
    upright = decode_image(_jpeg_with_orientation(image, 6), "turned.jpg", image_format=COLOUR_32)
    # Orientation 6: the stored image is shown turned 90 degrees clockwise, so blue is on top.
    assert upright[4, 16, 2] > 0.8 and upright[4, 16, 0] < 0.2
    assert upright[-4, 16].min() > 0.8


# --- choosing the format from the data -----------------------------------------------------


def test_a_colour_folder_reads_as_colour_and_a_grey_one_as_grey(tmp_path, image_folder_factory):
    colour = load_image_folder(write_colour_folder(tmp_path / "colour", per_class=3))
    assert colour.image_format == COLOUR_32 == colour.natural_format
    assert colour.images.shape == (6, 32, 32, 3) and colour.images.dtype == np.uint8
    grey = load_image_folder(image_folder_factory(tmp_path / "grey"))
    assert grey.image_format == GREY_28 and grey.images.shape[1:] == (28, 28)
    files = sorted((tmp_path / "colour").rglob("*.png"))
    assert choose_image_format(files, colour="off") == GREY_28
    assert choose_image_format(files, size=48) == ImageFormat(48, 48, 3)
    at_model = load_image_folder(tmp_path / "colour", image_format=GREY_28)
    assert at_model.images.shape[1:] == (28, 28) and at_model.natural_format is None


def test_settings_choose_colour_and_size(tmp_path):
    from siamese_gui.core.app.session import load_source
    from siamese_gui.core.app.training_run import run_format
    from siamese_gui.core.model.config import TrainingConfig

    source = load_source(image_folder=str(write_colour_folder(tmp_path / "f", per_class=3)),
                         image_format=GREY_28)
    data = source.dataset
    assert run_format(TrainingConfig(), data) == COLOUR_32  # the files', not the read's
    assert run_format(TrainingConfig(colour="off"), data) == GREY_28
    assert run_format(TrainingConfig(image_size=20), data) == ImageFormat(20, 20, 3)
    with pytest.raises(ConfigError, match="image size"):
        TrainingConfig(image_size=4)


# --- a colour model ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    """A model trained on red vs blue squares (colour chosen from the files), saved."""
    from siamese_gui.core.app.session import load_source
    from siamese_gui.core.app.training_run import prepare_training, run_training
    from siamese_gui.core.runtime.store import save_model

    root = tmp_path_factory.mktemp("colour")
    folder = write_colour_folder(root / "squares", per_class=16)
    from siamese_gui.core.model.config import TrainingConfig

    config = TrainingConfig(steps=40, batch_size=16, embedding_dim=8, validation_fraction=0.25,
                            histogram_share=0.25)
    data = prepare_training(load_source(image_folder=str(folder)), config)
    run = run_training(config, data)
    assert run.handle is not None
    path = save_model(run.result.model, root / "colour.keras", run.metadata)
    return path, folder, run


def test_colour_model_tells_red_from_blue(colour_model):
    from siamese_gui.core.runtime.loading import load_model_handle

    path, folder, run = colour_model
    handle = load_model_handle(path)
    assert handle.image_format == COLOUR_32
    reds, blues = sorted((folder / "red").iterdir()), sorted((folder / "blue").iterdir())
    image = lambda p: load_image(p, image_format=handle.image_format)  # noqa: E731
    two_reds = handle.distance(image(reds[0]), image(reds[1]))
    red_blue = handle.distance(image(reds[0]), image(blues[0]))
    assert red_blue > 2 * two_reds and red_blue > two_reds + 0.2
    # Grey images are refused in words, not a shape error from deep inside.
    with pytest.raises(Exception, match="sees 32 × 32 colour"):
        handle.distance(load_image(reds[0]), load_image(reds[1]))


def test_colour_format_round_trips_through_the_file(colour_model):
    from siamese_gui.core.runtime.store import load_model, read_metadata

    path, _, run = colour_model
    assert run.metadata[FIELD] == COLOUR_32.as_dict()
    assert format_of(read_metadata(path)) == COLOUR_32
    loaded = load_model(path)
    assert format_of(loaded.info) == COLOUR_32 and tuple(loaded.embedding.input_shape) == (None, 32, 32, 3)


def test_litert_copy_of_a_colour_model_matches_keras(colour_model, tmp_path):
    pytest.importorskip("ai_edge_litert")
    from siamese_gui.core.runtime.export import check_parity, export_embedding
    from siamese_gui.core.runtime.store import load_model

    path, folder, _ = colour_model
    loaded = load_model(path)
    out = export_embedding(loaded.embedding, tmp_path / "colour.tflite", "tflite", loaded.info, path)
    assert check_parity(loaded.embedding, out) < 1e-3
    from siamese_gui.core.runtime.copies import LiteRTEmbedder, card_path

    card = json.loads(card_path(out).read_text())
    assert card["input"]["shape"] == [None, 32, 32, 3] and "red, green, blue" in card["input"]["pixels"]
    assert LiteRTEmbedder(out).image_format == COLOUR_32
    # The copy saved beside the model runs it: a LiteRT handle sees colour too.
    from siamese_gui.core.runtime.loading import load_model_handle

    handle = load_model_handle(path)
    red = load_image(folder / "red" / "00.png", image_format=COLOUR_32)
    blue = load_image(folder / "blue" / "00.png", image_format=COLOUR_32)
    keras_distance = float(np.linalg.norm(np.diff(loaded.embedding.predict(
        np.stack([red, blue]), verbose=0), axis=0)))
    assert handle.distance(red, blue) == pytest.approx(keras_distance, abs=1e-3)


def test_old_grey_models_read_as_28_by_28_grey(saved_model):
    """The fixture model, like the shipped one, sees 28 x 28 grey; its metadata (written
    without the field by older versions) reads so."""
    from siamese_gui.core.io.locations import data_dir
    from siamese_gui.core.runtime.archive import model_metadata, open_model_file
    from siamese_gui.core.runtime.loading import load_model_handle

    shipped = data_dir("models") / "fashion_mnist.keras"
    if shipped.is_file():
        assert FIELD not in model_metadata(open_model_file(shipped))
        assert load_model_handle(shipped).image_format == GREY_28
    stripped = {k: v for k, v in model_metadata(open_model_file(saved_model)).items() if k != FIELD}
    assert format_of(stripped) == GREY_28
    assert load_model_handle(saved_model).image_format == GREY_28


def test_cli_trains_and_compares_a_colour_folder(tmp_path, cli):
    folder = write_colour_folder(tmp_path / "squares", per_class=12)
    model = tmp_path / "m.keras"
    trained = cli("train", "--image-folder", str(folder), "--out", str(model), "--steps", "30",
                  "--batch-size", "16", "--histogram-share", "0.25", timeout=600)
    assert trained.returncode == 0, trained.stderr
    red, red2, blue = folder / "red" / "00.png", folder / "red" / "01.png", folder / "blue" / "00.png"
    same = json.loads(cli("compare", str(red), str(red2), "--model", str(model), "--json").stdout)
    other = json.loads(cli("compare", str(red), str(blue), "--model", str(model), "--json").stdout)
    assert other["distance"] > same["distance"] + 0.2


def test_network_scales_with_its_input_and_histograms_read_luminance():
    from siamese_gui.core.model.networks import (
        build_embedding_network,
        default_gradient_histograms,
        downsampling_stages,
        learned_network,
    )

    assert [downsampling_stages((s, s, 3)) for s in (28, 32, 40, 48, 64, 128)] == [0, 0, 0, 1, 1, 2]
    small, large = learned_network(8, (32, 32, 3)), learned_network(8, (64, 64, 3))
    # The strided stage keeps the maps of a 64 px input at the size of a 32 px one's.
    assert small.layers[-3].output.shape[1:] == large.layers[-3].output.shape[1:]
    network = build_embedding_network("default", 8, input_shape=(48, 40, 3))
    assert network.output.shape[-1] == 8 + 36 * 18
    rng = np.random.default_rng(0)
    grey = rng.random((3, 28, 28, 1), dtype=np.float32)
    histograms = default_gradient_histograms()
    same = histograms(np.repeat(grey, 3, axis=3))  # grey stored as colour: its luminance is itself
    assert np.allclose(np.asarray(same), np.asarray(histograms(grey)), atol=1e-5)
    # Twice the size, each pixel doubled: area-resized back to the same 28 x 28.
    double = np.repeat(np.repeat(grey, 2, axis=1), 2, axis=2)
    assert np.allclose(np.asarray(histograms(double)), np.asarray(histograms(grey)), atol=1e-5)
