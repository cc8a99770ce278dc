# zstd for the Windows build: Debian has no mingw-w64 libzstd, so the library
# is compiled from the C sources of Debian's linux-source-6.1 package (the
# kernel's copy of upstream zstd, used under its BSD-3-Clause option), which
# scripts/fetch-zstd-source.sh extracts into a cache outside the tree.
# The kernel includes <linux/...> and <asm/unaligned.h> headers; shim/
# provides user-space versions of the few it uses. Defines obagent_zstd.
set(OBAGENT_ZSTD_SOURCE_DIR "" CACHE PATH
    "Folder printed by scripts/fetch-zstd-source.sh (zstd sources for the Windows build)")
if(NOT EXISTS "${OBAGENT_ZSTD_SOURCE_DIR}/lib/zstd/common/zstd_common.c")
  message(FATAL_ERROR "The Windows build compiles zstd from source: pass "
          "-DOBAGENT_ZSTD_SOURCE_DIR=$(bash scripts/fetch-zstd-source.sh) "
          "(scripts/build-windows.sh does this)")
endif()

# A copy in the build folder: zstd_deps.h is included with quotes from its
# own folder, so the kernel's version (which makes malloc fail) can only be
# replaced in place.
set(obagent_zstd_src ${CMAKE_BINARY_DIR}/zstd-src)
file(COPY ${OBAGENT_ZSTD_SOURCE_DIR}/lib/zstd ${OBAGENT_ZSTD_SOURCE_DIR}/lib/xxhash.c
     DESTINATION ${obagent_zstd_src} PATTERN zstd_deps.h EXCLUDE)
configure_file(${CMAKE_CURRENT_LIST_DIR}/shim/zstd_deps.h
               ${obagent_zstd_src}/zstd/common/zstd_deps.h COPYONLY)
file(GLOB obagent_zstd_sources ${obagent_zstd_src}/zstd/common/*.c
     ${obagent_zstd_src}/zstd/compress/*.c ${obagent_zstd_src}/zstd/decompress/*.c)
list(APPEND obagent_zstd_sources ${obagent_zstd_src}/xxhash.c)

add_library(obagent_zstd STATIC ${obagent_zstd_sources})
target_include_directories(obagent_zstd SYSTEM PUBLIC ${CMAKE_CURRENT_LIST_DIR}/shim
                                                      ${OBAGENT_ZSTD_SOURCE_DIR}/include)
# Third-party code: built as its authors build it, without our warning policy.
target_compile_options(obagent_zstd PRIVATE -w -O2)
