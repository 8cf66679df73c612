"""The quality-check protocol of tools/quality_check.py, one job per module: ``protocol`` (named
budgets, presets, label budgets), ``data`` (generated long-tail or real scans, labelled subsets),
``cells`` (one pretraining or downstream run through the Trainer and the tester), ``report``
(statistics, results.json, markdown, bar chart). Statistics live in pointcept/utils/stats.py."""
