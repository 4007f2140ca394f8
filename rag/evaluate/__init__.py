"""Evaluate: gold questions in, retrieval, answer and refusal figures with confidence intervals out.

Owns loading gold sets and locating their evidence (`gold.load_gold`), the metrics (`metrics`), running an
assistant over a gold set (`runner.evaluate`), the Markdown report (`report.render_report`), the gate that
decides whether a build may go live (`gate.decide`), and fitting the refusal model (`calibration.calibrate`).
Leaves building and promoting to `rag.indexing` and `rag.pipeline`, which calls the gate.
"""
