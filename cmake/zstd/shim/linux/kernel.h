/* Shim for building the Linux kernel's copy of zstd (linux-source-6.1: lib/zstd)
 * as an ordinary user-space library; see cmake/zstd/zstd.cmake. */
#pragma once
#include <linux/compiler.h>
#include <linux/types.h>
