"""Speed and memory benchmarks: each script prints a table of ratios measured in one run
(--json for machine-readable output)."""
