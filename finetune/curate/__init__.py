"""Curation of training data (``assistant data inspect`` / ``assistant data select``): read a pool in
any format finetune reads, keep every row with its line, and decide per row what to keep and why.

It owns: reading a pool that may hold bad rows (:mod:`.pool`), exact and near-duplicate detection
(:mod:`.dedupe`, MinHash LSH), the fit at ``max_length`` through :func:`finetune.fit.fit_examples`
(:mod:`.tokens`), LIMA-style filters (:mod:`.filters`), ranking by length, a local judge's score,
embedding or TF-IDF diversity, or chance (:mod:`.rank`, :mod:`.judge`, :mod:`.embed`), the pipeline
and its files (:mod:`.select`), the pool's report (:mod:`.inspect`), and the record finetune keeps
in its provenance (:mod:`.record`). Heavy libraries (datasketch, transformers, llama_cpp) are
imported inside the functions that need them.
"""
