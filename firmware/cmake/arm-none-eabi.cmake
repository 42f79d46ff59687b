# Cross toolchain for bare-metal Cortex-M with Debian's gcc-arm-none-eabi.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# The board's core flags (-mcpu, -mfpu, -mfloat-abi) apply to every target, CMSIS-NN's included,
# because they select the kernels' DSP / MVE paths.
set(SOI_CPU_FLAGS "" CACHE STRING "core flags from the board file")
string(REPLACE ";" " " _soi_cpu_flags "${SOI_CPU_FLAGS}")
set(CMAKE_C_FLAGS_INIT "${_soi_cpu_flags} -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT "${_soi_cpu_flags} -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${_soi_cpu_flags}")
# The link flags of every bare-metal image the project links: this firmware, and the kernel tests and
# benches that soi_mcu/target/link.py links without CMake; both read them from link-flags.txt.
file(STRINGS "${CMAKE_CURRENT_LIST_DIR}/link-flags.txt" _soi_link_flags LIMIT_COUNT 1)
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_soi_cpu_flags} ${_soi_link_flags}")
