"""Curation of training data (``assistant data inspect`` / ``assistant data select``): read a pool in
any format finetune reads, keep every row with its line, and decide per row what to keep and why.

    pool.py         a pool of rows, good or bad, each with its line; line ranges for reports
    dedupe.py       exact and near-duplicate prompts (MinHash LSH, datasketch)
    tokens.py       lengths in a base's template tokens and the fit at ``max_length``
                    (:func:`finetune.fit.fit_examples`, ``overlong=drop``)
    filters.py      LIMA-style filters on replies
    rank.py         ranking: longest, by a judge's score, most diverse, or by chance
    judge.py        a local judge's 1-5 scores, cached; the model comes from the caller as a
                    ``Generate`` function (``assistant data`` passes its chat engine's)
    embed.py        vectors for diversity: a GGUF's embeddings (models.llama_open) or TF-IDF
    select.py       the pipeline, and OUT, OUT.report.md, OUT.selection.jsonl written atomically
    report.py       OUT.report.md
    inspect.py      the pool's report (``assistant data inspect``)
    record.py       what finetune records of a selection in its provenance

Heavy libraries (datasketch, transformers, llama_cpp) are imported inside the functions that need them.
"""
