"""``voicecli bench``: which chunking strategy gets audio out first, without gaps, on identical token streams.

    traces.py   the bundled prompts and recorded traces, the seeded live model, recording new traces
    runner.py   one loop over a token source (replay or live) × strategies × runs, through the real engine
    stats.py    each turn's metrics from its turn record, medians and p90s, "natural share", determinism
    report.py   the table, the verdict, the --json rows
    plot.py     one reply's timeline per strategy (matplotlib, the ``plot`` extra)
    main.py     what the command does with its arguments

Per strategy, the median and the 90th percentile over traces × runs of each metric in
``stats.METRICS`` become one row. ``--live`` runs the prompts against the live local model instead,
end to end, and also measures the engine's overhead over the raw parts.
"""
