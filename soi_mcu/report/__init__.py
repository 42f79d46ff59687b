"""What a run costs on the chip: one run's Report (`run_report`), analytic MMAC/s per variant
(`complexity`) and the quality records that come in from training (`quality`). SOI variants built and
simulated against STMC are soi_mcu/profile.py, which runs the pipeline.

Part of the deployment side: it never imports `soi_mcu.train` (tests/test_architecture.py checks it);
quality figures come in as plain `quality.Quality` records. Left empty on purpose, so that importing
one module (e.g. `complexity` from a sweep) does not pull in the build and simulator modules.
"""
