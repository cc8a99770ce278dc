# Dependencies of the Windows (mingw-w64) build. Debian's compiled libraries
# (OpenSSL, Boost, cpprestsdk, libzstd) are Linux-only: crypto uses BCrypt
# (src/platform/win/crypto), zstd is compiled from source (cmake/zstd), and
# the header-only libraries come from Debian's /usr/include through a private
# folder of symlinks, because -I/usr/include would put glibc's headers in
# front of mingw's. The targets carry the names find_package gives them on
# Linux, so module link lines are the same for both builds.
enable_language(C)
include(${CMAKE_CURRENT_LIST_DIR}/zstd/zstd.cmake)

set(obagent_host_headers ${CMAKE_BINARY_DIR}/host-headers)
file(MAKE_DIRECTORY ${obagent_host_headers})
foreach(dir nlohmann spdlog fmt boost)
  if(NOT EXISTS /usr/include/${dir})
    message(FATAL_ERROR "/usr/include/${dir} is missing: run scripts/install-deps.sh")
  endif()
  file(CREATE_LINK /usr/include/${dir} ${obagent_host_headers}/${dir} SYMBOLIC)
endforeach()

add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
  INTERFACE_SYSTEM_INCLUDE_DIRECTORIES ${obagent_host_headers}
  INTERFACE_INCLUDE_DIRECTORIES ${obagent_host_headers})
# Boost.Beast and Boost.Asio (the console's HTTP server) are header-only.
add_library(Boost::headers INTERFACE IMPORTED)
set_target_properties(Boost::headers PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${obagent_host_headers}
  INTERFACE_COMPILE_DEFINITIONS "_WIN32_WINNT=0x0A00")
add_library(spdlog::spdlog INTERFACE IMPORTED)
set_target_properties(spdlog::spdlog PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${obagent_host_headers}
  INTERFACE_COMPILE_DEFINITIONS "SPDLOG_HEADER_ONLY;SPDLOG_FMT_EXTERNAL;FMT_HEADER_ONLY")

# Unit tests under Wine through ctest (design.md §4). The prefix lives in the
# build folder so builds never share (or break) each other's Wine state.
if(CMAKE_CROSSCOMPILING AND NOT CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR
      ${CMAKE_COMMAND} -E env WINEPREFIX=${CMAKE_BINARY_DIR}/wineprefix
      ${PROJECT_SOURCE_DIR}/scripts/wine-run.sh)
endif()
