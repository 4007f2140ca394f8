"""Answer: ranked passages in, a grounded answer (or a refusal) with exact-span citations out.

Owns the extractive answerer (`extractive.ExtractiveAnswerer`: sentence selection, citations, referred
documents), reading amounts and ranges in questions and table rows (`amounts`), and the calibrated refusal
(`abstention`: evidence features and the packaged model). Leaves retrieval to `rag.search` and fitting the
refusal model to `rag.evaluate.calibration`.
"""
