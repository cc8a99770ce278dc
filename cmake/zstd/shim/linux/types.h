/* Shim for building the Linux kernel's copy of zstd (linux-source-6.1: lib/zstd)
 * as an ordinary user-space library; see cmake/zstd/zstd.cmake. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* The kernel's byte order macro, which lib/zstd/common/mem.h tests: without
 * it zstd takes its big-endian paths and writes corrupt frames. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the zstd shim assumes a little-endian target"
#endif
#ifndef __LITTLE_ENDIAN
#define __LITTLE_ENDIAN 1234
#endif

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
