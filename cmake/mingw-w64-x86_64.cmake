# Cross-compiling for 64-bit Windows with Debian's mingw-w64 (design.md §4):
#   cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake
# (scripts/build-windows.sh does this). The -posix compilers use the winpthreads
# threading model: the default -win32 ones have no std::thread/std::mutex.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(OBAGENT_MINGW_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${OBAGENT_MINGW_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${OBAGENT_MINGW_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${OBAGENT_MINGW_TRIPLE}-windres)

# Search only the mingw sysroot for libraries and headers: Debian's Linux
# libraries in /usr/lib and headers in /usr/include must never be picked up.
set(CMAKE_FIND_ROOT_PATH /usr/${OBAGENT_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Self-contained executables: no libstdc++/libgcc/winpthread DLLs to ship.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
