"""RAG_EMBED_DEVICE: the passage encoder in float16 on a torch device, checked against the float32 CPU model.

No GPU on the machines these tests run on: the float16 code path runs on CPU (torch runs the model in float16 there
too), `cuda` without a GPU is a clear error, and the tolerance check refuses vectors that moved too far."""

import numpy as np
import pytest

from rag.errors import ModelError
from rag.indexing.device_encoder import MIN_COSINE, HalfPrecisionEmbedder, agreement, check_agreement
from rag.indexing.embedding import SentenceTransformerEmbedder
from rag.indexing.passage_encoder import make_passage_embedder

TEXTS = ["Payroll records are kept for 6 years after the end of the tax year.",
         "Staff must report a suspected security incident within 1 hour.",
         "Privileged accounts need passwords of at least 20 characters.",
         "Gifts worth more than £500 need the Head of Compliance's approval in advance."]


def test_agreement_is_the_lowest_cosine_and_the_check_refuses_below_the_tolerance():
    reference = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    close = np.array([[1.0, 0.01], [0.0, 1.0]], dtype=np.float32)
    far = np.array([[1.0, 0.1], [0.0, 1.0]], dtype=np.float32)  # cosine 0.995
    assert agreement(reference, close) == pytest.approx(1 / np.sqrt(1.0001), abs=1e-6)
    assert check_agreement(reference, close, "test") >= MIN_COSINE
    with pytest.raises(ModelError, match="RAG_EMBED_DEVICE=cpu"):
        check_agreement(reference, far, "test")


@pytest.mark.model
def test_float16_vectors_stay_within_the_tolerance_of_float32_ones():
    source = SentenceTransformerEmbedder()
    half = HalfPrecisionEmbedder(source, "cpu")
    vectors = half.encode(TEXTS)
    assert half.lowest_cosine is not None and half.lowest_cosine >= MIN_COSINE  # checked on the first batch itself
    assert agreement(source.encode(TEXTS), vectors) >= MIN_COSINE
    assert not np.array_equal(source.encode(TEXTS), vectors)  # float16 really ran: the vectors moved, a little
    assert half.fingerprint != source.fingerprint  # cached float32 vectors are never taken for float16 ones


def test_cuda_without_a_gpu_is_a_clear_error(settings):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: the error is for machines without one")
    with pytest.raises(ModelError, match="RAG_EMBED_DEVICE=cpu"):
        make_passage_embedder(settings.replace(embed_device="cuda"))
