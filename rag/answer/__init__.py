"""Answer: ranked passages in, a grounded answer (or a refusal) with exact-span citations out.

Owns the extractive answerer (`extractive.ExtractiveAnswerer`: sentence selection, citations, referred
documents), what a quoted sentence needs to be read (`lists`: a list item's lead-in and a lead-in's items;
`antecedents`: the sentence a "They ..." sentence points back to), the readers that reorder the best sentences
(`reader`: the packaged vector reader or a cross-encoder; `late`: late interaction over token states), and the
calibrated refusal (`abstention`: evidence features and the packaged model). Leaves retrieval and reading amounts
(`rag.search.amounts`) to `rag.search` and fitting the refusal model to `rag.evaluate.calibration`.
"""
