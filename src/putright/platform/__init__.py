"""The four services composed: one-process runs, the AsyncAPI document, the demo."""
