"""The target stage: the chips (cores.py, the one table of core facts; boards.py, one data file per board),
building the firmware (build.py, link.py, code_size.py, cmsis_nn*.py) and running it in a simulator
(qemu.py with the cycle plugin qemu_plugin.py, renode.py), both read through harness_output.py.

cores and boards describe the chip a user picked: every stage may read them, so they import nothing
but errors and paths. doctor.py checks the tools this stage needs."""
