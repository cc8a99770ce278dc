/* Shim for building the Linux kernel's copy of zstd (linux-source-6.1: lib/zstd)
 * as an ordinary user-space library; see cmake/zstd/zstd.cmake. */
#pragma once
/* Unaligned little/big-endian loads and stores through memcpy, which compilers
 * turn into single moves on x86-64. */
#include <linux/swab.h>
#include <linux/types.h>
#include <string.h>

#define get_unaligned(ptr)                     \
  __extension__({                              \
    __typeof__(*(ptr)) obagent_v_;             \
    memcpy(&obagent_v_, (ptr), sizeof obagent_v_); \
    obagent_v_;                                \
  })
#define put_unaligned(val, ptr)                \
  do {                                         \
    __typeof__(*(ptr)) obagent_v_ = (val);     \
    memcpy((ptr), &obagent_v_, sizeof obagent_v_); \
  } while (0)

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the zstd shim assumes a little-endian target"
#endif

static inline u16 get_unaligned_le16(const void* p) { return get_unaligned((const u16*)p); }
static inline u32 get_unaligned_le32(const void* p) { return get_unaligned((const u32*)p); }
static inline u64 get_unaligned_le64(const void* p) { return get_unaligned((const u64*)p); }
static inline u32 get_unaligned_be32(const void* p) { return swab32(get_unaligned((const u32*)p)); }
static inline u64 get_unaligned_be64(const void* p) { return swab64(get_unaligned((const u64*)p)); }
static inline void put_unaligned_le16(u16 v, void* p) { put_unaligned(v, (u16*)p); }
static inline void put_unaligned_le32(u32 v, void* p) { put_unaligned(v, (u32*)p); }
static inline void put_unaligned_le64(u64 v, void* p) { put_unaligned(v, (u64*)p); }
static inline void put_unaligned_be32(u32 v, void* p) { put_unaligned(swab32(v), (u32*)p); }
static inline void put_unaligned_be64(u64 v, void* p) { put_unaligned(swab64(v), (u64*)p); }
