"""Tune: adapting the embedding model to an operator's corpus and phrasing, kept only when the gate says it helps.

Owns building training triples from gold questions (`data.training_triples`: the question, its evidence with the
section it sits in, and a hard negative from the same build), LoRA training in plain torch (`lora`, `train`:
multiple-negatives ranking loss, bounded time, a progress bar, an adapter in peft's file format), and the
`rag tune` workflow (`workflow.tune`: hold a share of the gold set out, measure it before and after, write the
adapter into a candidate build that the gate promotes or refuses). Leaves merging an adapter into a model folder
to `rag.indexing.adapters`, and building and gating to `rag.indexing.builds` and `rag.pipeline`.
"""
