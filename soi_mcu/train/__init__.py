"""Training and research side: speech-enhancement U-Nets and the scene classifier, their data, training,
float and int8 evaluation, and seed sweeps.

Kept apart from the deployment path (model -> int8 -> C -> firmware -> simulator -> report): nothing
outside this package imports it except `soi_mcu.cli`, which wires the commands
(tests/test_architecture.py checks it). Left empty on purpose: `soi_mcu.train.args` must import
without torch so that building the CLI parser stays fast.
"""
