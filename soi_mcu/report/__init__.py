"""What a run costs on the chip: one run's Report (`run_report`), SOI variants built and simulated against
STMC (`profile`), and analytic MMAC/s per variant (`complexity`).

Part of the deployment side: it never imports `soi_mcu.train` (tests/test_architecture.py checks it);
quality figures come in as plain `quality.Quality` records. Left empty on purpose, so that importing
one module (e.g. `complexity` from a sweep) does not pull in the build and simulator modules.
"""
