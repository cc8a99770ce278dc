/* Shim for building the Linux kernel's copy of zstd (linux-source-6.1: lib/zstd)
 * as an ordinary user-space library; see cmake/zstd/zstd.cmake. */
#pragma once
/* Kernel module metadata has no meaning in a static library. */
#define EXPORT_SYMBOL(sym)
#define EXPORT_SYMBOL_GPL(sym)
#define MODULE_LICENSE(text)
#define MODULE_DESCRIPTION(text)
