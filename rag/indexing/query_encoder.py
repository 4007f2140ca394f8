"""Question encoder: the packaged MiniLM weights run by onnxruntime, one question at a time.

Owns exporting the sentence-transformers model to ONNX once, on the user's machine and from its local
files (`onnx`: float32; `onnx-int8`: weights quantised to int8 per channel, activations dynamically),
into `<cache folder>/query-model/<variant>-<model fingerprint>/model.onnx`; checking the export against
the torch model before it is kept; reusing it afterwards; and encoding questions into L2-normalised
float32 vectors the way the torch embedder does (word pieces cut to the model window, [CLS] and [SEP]
added, mean pooling over the tokens, unit length: the pooling and normalising are part of the graph).
Passages are always encoded by `rag.indexing.embedding` (index vectors never change). Importing this module loads
nothing: torch, onnx and onnxruntime are imported only when a model is exported or loaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.errors import ModelError
from rag.indexing.embedding import SentenceTransformerEmbedder

VARIANTS = ("onnx", "onnx-int8")
FORMAT = 1  # bump when the export recipe changes, so old exports are not reused
INSTALL_HINT = "pip install 'onnxruntime==1.32.0' 'onnx==1.23.2'` (or `make setup`)"
PROBE = "How long are payroll records kept after an employee leaves?"
MIN_PROBE_COSINE = {"onnx": 0.9999, "onnx-int8": 0.97}  # a fresh export must agree this well with torch


def require_onnxruntime(variant: str) -> Any:
    """The onnxruntime module, or `ModelError` with the install command."""
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(f"RAG_QUERY_ENCODER={variant} needs onnxruntime: run `{INSTALL_HINT}, "
                         "or set RAG_QUERY_ENCODER=torch") from None
    return onnxruntime


def export_folder(cache_root: Path, fingerprint: str, variant: str) -> Path:
    """Where the export of one model (by fingerprint) in one variant lives."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", fingerprint)
    return Path(cache_root) / "query-model" / f"{variant}-v{FORMAT}-{safe}"


class OnnxQueryEncoder:
    """Encodes questions with an exported model. Thread-safe (an onnxruntime session may be run concurrently)."""

    def __init__(self, model_path: Path, onnx_file: Path, window: int, threads: int = 1, variant: str = "onnx") -> None:
        self.model_path = Path(model_path)
        self.onnx_file = Path(onnx_file)
        self.window = window
        self.threads = threads
        self.variant = variant

    @cached_property
    def session(self) -> Any:
        ort = require_onnxruntime(self.variant)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.onnx_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load the question encoder {self.onnx_file}: {exc}; delete its folder to export it again") from exc

    @cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tokenizer.no_padding()  # the file pads to 128; one question needs no padding
        tokenizer.enable_truncation(self.window + 2)  # the model's max_seq_length, [CLS] and [SEP] included
        return tokenizer

    def encode(self, texts: Sequence[str], batch_size: int = 1, progress: Any = None) -> np.ndarray:
        """Unit vectors, one row per text (encoded one at a time: no padding, as for a single question)."""
        rows = []
        for text in texts:
            ids = np.asarray([self.tokenizer.encode(text).ids], dtype=np.int64)
            rows.append(self.session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0])
            if progress:
                progress(1)
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)


def ensure_export(embedder: SentenceTransformerEmbedder, cache_root: Path, variant: str) -> Path:
    """The exported model file for `variant`, exported (and checked against torch) only when not there yet."""
    require_onnxruntime(variant)
    folder = export_folder(cache_root, embedder.fingerprint, variant)
    target = folder / "model.onnx"
    if target.is_file():
        return target
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_exports(folder.parent)
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    except OSError as exc:
        raise ModelError(f"cannot write the question encoder under {folder.parent}: {exc}; set RAG_CACHE_DIR to a writable "
                         "folder, or RAG_QUERY_ENCODER=torch") from exc
    try:
        info = _exported(embedder, staging, variant)
        (staging / "export.json").write_text(json.dumps(info, indent=2))
        try:
            os.rename(staging, folder)
        except OSError:
            if not target.is_file():  # another process finished first: use its export
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _remove_stale_exports(parent: Path, age_s: float = 3600.0) -> None:
    """Staging folders left by exports killed over an hour ago (a live export finishes in seconds)."""
    import time

    for stale in parent.glob(".export-*"):
        if time.time() - stale.stat().st_mtime > age_s:
            shutil.rmtree(stale, ignore_errors=True)


def _exported(embedder: SentenceTransformerEmbedder, out: Path, variant: str) -> dict[str, Any]:
    """`_export`, with any failure of the exporter or quantiser turned into `ModelError` naming the way out."""
    try:
        return _export(embedder, out, variant)
    except ModelError:
        raise
    except Exception as exc:  # torch.onnx, onnx and onnxruntime raise many types; all mean the same to the user
        raise ModelError(f"exporting the {variant} question encoder failed ({type(exc).__name__}: {exc}); "
                         "set RAG_QUERY_ENCODER=torch to embed questions with the model itself") from exc


def _export(embedder: SentenceTransformerEmbedder, out: Path, variant: str) -> dict[str, Any]:
    """Export the model's transformer + mean pooling + normalising to `out/model.onnx`; check it; return its facts."""
    torch_model = _pooled_torch_model(embedder.path)
    fp32 = out / ("model.onnx" if variant == "onnx" else "fp32.onnx")
    _trace(torch_model, fp32)
    if variant == "onnx-int8":
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.disable(logging.WARNING)  # the quantiser logs advice about static quantisation on the root logger
        try:
            quantize_dynamic(fp32, out / "model.onnx", weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
        finally:
            logging.disable(logging.NOTSET)
        fp32.unlink()
    cosine = _probe_cosine(torch_model, OnnxQueryEncoder(embedder.path, out / "model.onnx", embedder.window, 1, variant))
    if cosine < MIN_PROBE_COSINE[variant]:
        raise ModelError(f"the {variant} export of {embedder.name} disagrees with the torch model (cosine {cosine:.4f}): "
                         "set RAG_QUERY_ENCODER=torch")
    import onnxruntime

    return {"fingerprint": embedder.fingerprint, "variant": variant, "format": FORMAT, "probe_cosine": round(cosine, 6),
            "onnxruntime": onnxruntime.__version__}


def _pooled_torch_model(path: Path) -> Any:
    """The model folder as one torch module: token ids and mask in, mean-pooled unit vector out."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    _check_pooling(path)
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    class Pooled(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    try:
        bert = AutoModel.from_pretrained(str(path), attn_implementation="eager")
    except Exception as exc:  # transformers raises many types; all mean the same to the user
        raise ModelError(f"cannot load the model from {path} to export it: {exc}; set RAG_QUERY_ENCODER=torch") from exc
    return Pooled(bert).eval()


def _check_pooling(path: Path) -> None:
    """Only a transformer at the folder's root, mean pooling and normalising can be exported faithfully."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        modules, pooling = [], {}
    means = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v] == ["pooling_mode_mean_tokens"]
    if modules != ["Transformer", "Pooling", "Normalize"] or not means:
        raise ModelError(f"the ONNX question encoder supports mean-pooled, normalised models only, not {path}: "
                         "set RAG_QUERY_ENCODER=torch")


def _trace(model: Any, target: Path) -> None:
    import warnings

    import torch

    ids = torch.tensor([[101, 2129, 2146, 2024, 3477, 3204, 2921, 1029, 102]])
    dynamic = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (ids, torch.ones_like(ids)), str(target), input_names=["input_ids", "attention_mask"],
                              output_names=["embedding"], dynamic_axes=dynamic, opset_version=17, dynamo=False)
        except ImportError:
            raise ModelError(f"exporting the question encoder needs onnx: run `{INSTALL_HINT}") from None


def _probe_cosine(model: Any, encoder: OnnxQueryEncoder) -> float:
    import torch

    ids = torch.tensor([encoder.tokenizer.encode(PROBE).ids])
    with torch.no_grad():
        reference = model(ids, torch.ones_like(ids))[0].numpy()
    return float(encoder.encode([PROBE])[0] @ reference)


def make_query_encoder(variant: str, embedder: SentenceTransformerEmbedder, cache_root: Path,
                       threads: int) -> OnnxQueryEncoder | None:
    """The chosen question encoder for `embedder`'s model (exported now if needed; its fingerprint names the export),
    or None for `torch` (the embedder encodes questions)."""
    if variant == "torch":
        return None
    if variant not in VARIANTS:
        raise ModelError(f"unknown question encoder {variant!r}: set RAG_QUERY_ENCODER to torch, {', '.join(VARIANTS)}")
    require_onnxruntime(variant)
    onnx_file = ensure_export(embedder, cache_root, variant)
    return OnnxQueryEncoder(embedder.path, onnx_file, embedder.window, threads or 1, variant)
