/* Shim for building the Linux kernel's copy of zstd (linux-source-6.1: lib/zstd)
 * as an ordinary user-space library; see cmake/zstd/zstd.cmake. */
#pragma once
/* What obagent includes as <zstd.h>: the upstream API, as the kernel names it. */
/* The kernel's copy dropped upstream's extern "C" guards. */
#include <linux/types.h>
#ifdef __cplusplus
extern "C" {
#endif
#include <linux/zstd_errors.h>
#include <linux/zstd_lib.h>
#ifdef __cplusplus
}
#endif
