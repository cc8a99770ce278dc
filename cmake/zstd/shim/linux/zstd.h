/* Shim for building the Linux kernel's copy of zstd (linux-source-6.1: lib/zstd)
 * as an ordinary user-space library; see cmake/zstd/zstd.cmake. */
#pragma once
/* The kernel header adds a zstd_* API on top of zstd_lib.h (the upstream
 * zstd.h); the library sources only need the upstream declarations. */
#include <linux/zstd_errors.h>
#include <linux/zstd_lib.h>
