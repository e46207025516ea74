import gzip
import pickle
import shutil

import numpy as np
import pytest
from PIL import Image

from diffbench.data.images import load_images
from diffbench.data.sources import open_source
from diffbench.data.synthetic import draw_shapes, render_shapes
from diffbench.data.tensors import to_model_range, to_uint8
from diffbench.errors import DataError
from diffbench.specs import DatasetSpec
from diffbench.stages.data import prepare_data, prepare_full_data, split_indices
from helpers import SHARED_MNIST, fake_mnist


def spec(**overrides):
    base = dict(
        source="synthetic",
        root="data",
        download=False,
        split="train",
        resolution=16,
        channels=3,
        num_train=6,
        num_reference=4,
        seed=3,
        unreadable_files="error",
        max_shapes=3,
        shape_radius=(0.1, 0.3),
    )
    return DatasetSpec.of({**base, **overrides})


def prepare(tmp_path, name="d", **overrides):
    return prepare_data(
        name, spec(**overrides), tmp_path / "train.npz", tmp_path / "heldout.npz", tmp_path / "info.json"
    )


def test_synthetic_image_depends_only_on_seed_and_index():
    a = render_shapes(3, 5, 16)
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, render_shapes(3, 5, 16))
    assert not np.array_equal(a, render_shapes(3, 6, 16))
    assert not np.array_equal(a, render_shapes(4, 5, 16))
    assert a.std() > 10  # not a flat image


def test_max_shapes_bounds_the_shapes_in_each_image():
    counts = {m: {len(draw_shapes(np.random.default_rng([0, i]), m)) for i in range(60)} for m in (1, 3)}
    assert counts == {1: {1}, 3: {1, 2, 3}}
    # the dataset key reaches the generator
    indices = np.arange(10)
    single = open_source("d", spec(max_shapes=1)).load(indices)
    np.testing.assert_array_equal(single[4], render_shapes(3, 4, 16, max_shapes=1))
    assert not np.array_equal(single, open_source("d", spec()).load(indices))


def test_shape_radius_bounds_each_shape_and_reaches_the_generator():
    def drawn(radii):
        return [shape[3] for i in range(60) for shape in draw_shapes(np.random.default_rng([0, i]), 3, radii)]

    radii = {r: drawn(r) for r in ((0.2, 0.3), (0.1, 0.3))}
    assert 0.2 <= min(radii[0.2, 0.3]) and max(radii[0.2, 0.3]) <= 0.3
    assert min(radii[0.1, 0.3]) < 0.2  # the default reaches below: 60 images hold ~120 shapes
    # the default range leaves the stream as it was before the key existed: same draws, same images
    np.testing.assert_array_equal(render_shapes(3, 4, 16), render_shapes(3, 4, 16, radii=(0.1, 0.3)))
    indices = np.arange(10)
    large = open_source("d", spec(shape_radius=(0.2, 0.3))).load(indices)
    np.testing.assert_array_equal(large[4], render_shapes(3, 4, 16, radii=(0.2, 0.3)))
    assert not np.array_equal(large, open_source("d", spec()).load(indices))


def test_split_is_deterministic_and_disjoint():
    ref, train = split_indices(100, 10, 30, seed=1)
    ref2, train2 = split_indices(100, 10, 30, seed=1)
    np.testing.assert_array_equal(ref, ref2)
    np.testing.assert_array_equal(train, train2)
    assert len(set(ref) | set(train)) == 40
    assert not np.array_equal(ref, split_indices(100, 10, 30, seed=2)[0])


def test_prepare_synthetic(tmp_path):
    info = prepare(tmp_path)
    train, reference = load_images(tmp_path / "train.npz"), load_images(tmp_path / "heldout.npz")
    assert train.shape == (6, 16, 16, 3) and reference.shape == (4, 16, 16, 3)
    assert info["train"]["count"] == 6 and len(info["train"]["sha256"]) == 64
    info2 = prepare(tmp_path / "again")
    assert info2["train"]["sha256"] == info["train"]["sha256"]


def test_grayscale_conversion(tmp_path):
    prepare(tmp_path, channels=1)
    assert load_images(tmp_path / "train.npz").shape == (6, 16, 16, 1)


def test_model_range_round_trip():
    images = np.random.default_rng(0).integers(0, 256, size=(2, 4, 4, 3), dtype=np.uint8)
    x = to_model_range(images)
    assert x.shape == (2, 3, 4, 4) and x.min() >= -1 and x.max() <= 1
    np.testing.assert_array_equal(to_uint8(x), images)


def write_images(folder, sizes, mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        data = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        Image.fromarray(data).convert(mode).save(folder / f"img{i:02d}.png")


def test_imagefolder_resizes_and_crops(tmp_path):
    write_images(tmp_path / "imgs" / "sub", [(40, 20), (20, 40), (16, 16), (33, 17)] * 3, mode="L")
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    prepare(tmp_path, source="imagefolder", root=str(tmp_path / "imgs"), num_train=8, num_reference=4)
    assert load_images(tmp_path / "train.npz").shape == (8, 16, 16, 3)


def bad_files(folder):
    """A corrupt file, a truncated one, a text file named .jpg and a 32-bit float image."""
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    whole = folder / "img00.png"
    (folder / "truncated.png").write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    (folder / "notes.jpg").write_text("not an image")
    Image.fromarray(np.full((16, 16), 0.5, np.float32)).save(folder / "float.tif")
    return ["broken.png", "truncated.png", "notes.jpg", "float.tif"]


@pytest.mark.parametrize("bad", range(4))
def test_imagefolder_names_an_unreadable_file(tmp_path, bad):
    write_images(tmp_path / "imgs", [(16, 16)] * 10)
    names = bad_files(tmp_path / "imgs")
    for name in names[:bad] + names[bad + 1 :]:
        (tmp_path / "imgs" / name).unlink()
    with pytest.raises(DataError, match=rf"datasets.d: cannot read image file '.*{names[bad]}'"):
        prepare(tmp_path, source="imagefolder", root=str(tmp_path / "imgs"), num_train=7, num_reference=4)
    assert not (tmp_path / "info.json").exists()


def test_unreadable_files_can_be_skipped_and_are_listed(tmp_path):
    write_images(tmp_path / "imgs", [(16, 16)] * 10)
    names = bad_files(tmp_path / "imgs")
    info = prepare(
        tmp_path,
        source="imagefolder",
        root=str(tmp_path / "imgs"),
        num_train=6,
        num_reference=4,
        unreadable_files="skip",
    )
    assert info["source_size"] == 10 and sorted(
        p.split(":")[0].rsplit("/", 1)[1] for p in info["skipped_files"]
    ) == sorted(names)


def test_sixteen_bit_images_keep_their_range():
    from diffbench.data.images import to_array

    image = Image.fromarray(np.array([[0, 32896, 65535, 1000]], dtype=np.uint16).repeat(4, 0))
    assert image.mode.startswith("I;16")
    assert to_array(image, 4, 1)[0, :, 0].tolist() == [0, 128, 255, 4]


def test_imagefolder_empty_and_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        prepare(tmp_path, source="imagefolder", root=str(tmp_path / "empty"))
    with pytest.raises(DataError, match="does not exist.*datasets.d.root"):
        prepare(tmp_path, source="imagefolder", root=str(tmp_path / "absent"))


def test_full_data_is_every_image_in_source_order(tmp_path):
    """The full set holds the held-out and training images and the rest, each once, in path order."""
    write_images(tmp_path / "imgs", [(16, 16)] * 13)
    folder = dict(source="imagefolder", root=str(tmp_path / "imgs"))
    prepare(tmp_path, **folder)
    info = prepare_full_data("d", spec(**folder), tmp_path / "full.npz")
    with np.load(tmp_path / "full.npz") as full:
        assert info["count"] == 13 and full["source_indices"].tolist() == list(range(13))
        for split in ("train", "heldout"):
            with np.load(tmp_path / f"{split}.npz") as part:
                np.testing.assert_array_equal(full["images"][part["source_indices"]], part["images"])


def test_no_heldout_images_when_none_are_asked_for(tmp_path):
    """num_reference: 0 (pretrained models scored against the training or full set)."""
    info = prepare(tmp_path, num_reference=0, channels=1)
    assert info["heldout"]["count"] == 0 and load_images(tmp_path / "heldout.npz").shape == (0, 16, 16, 1)


def test_too_few_images_is_a_clear_error(tmp_path):
    write_images(tmp_path / "imgs", [(16, 16)] * 5)
    with pytest.raises(DataError, match="has 5 images but num_reference"):
        prepare(tmp_path, source="imagefolder", root=str(tmp_path / "imgs"))


def test_mnist_through_torchvision_offline(tmp_path):
    fake_mnist(tmp_path / "root")
    prepare(tmp_path, source="mnist", root=str(tmp_path / "root"), download=False, channels=1, resolution=32)
    assert load_images(tmp_path / "train.npz").shape == (6, 32, 32, 1)


def test_mnist_missing_root_names_the_key(tmp_path):
    with pytest.raises(DataError, match=r"datasets.d.root.*set download: true"):
        prepare(tmp_path, source="mnist", root=str(tmp_path / "nothing"), download=False)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="the real MNIST test set is not on this machine")
def test_real_mnist_test_split(tmp_path):
    raw = fake_mnist(tmp_path / "root", n_test=1)  # torchvision checks all four files exist
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(SHARED_MNIST / f"{name}.gz") as src, open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    source = open_source(
        "m", spec(source="mnist", root=str(tmp_path / "root"), split="test", channels=1, resolution=28)
    )
    assert len(source) == 10_000
    digits = source.load(np.arange(100))
    assert digits.shape == (100, 28, 28, 1)
    assert 20 < digits.mean() < 50  # dark background, bright strokes: real digits


def test_cifar10_through_torchvision(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    folder = tmp_path / "root" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, _ in CIFAR10.train_list + CIFAR10.test_list:
        batch = {"data": rng.integers(0, 256, size=(5, 3072), dtype=np.uint8), "labels": list(range(5))}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    # The real files are checked against their md5 sums; these stand-ins cannot match them.
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *args, **kwargs: True)
    prepare(tmp_path, source="cifar10", root=str(tmp_path / "root"), download=False, resolution=32)
    train = load_images(tmp_path / "train.npz")
    assert train.shape == (6, 32, 32, 3)
    # evaluation.reference: full is the whole split (5 batches of 5), however many were split off
    full = prepare_full_data(
        "d", spec(source="cifar10", root=str(tmp_path / "root"), resolution=32), tmp_path / "f.npz"
    )
    assert full["count"] == 25 and load_images(tmp_path / "f.npz").shape == (25, 32, 32, 3)
