// Windows security descriptors as recovery points record them (tree kind
// kWinSecurity): the self-relative SECURITY_DESCRIPTOR bytes GetSecurityInfo
// returns. Core only checks their structure and reads their control bits;
// it never interprets SIDs or rights. Trees come from the vault (untrusted),
// so the check is total and bounded: it reads nothing outside the buffer,
// and its work is linear in the buffer's size. Pure functions, thread-safe.
//
// Layout (little-endian, [MS-DTYP] 2.4.6 SECURITY_DESCRIPTOR, self-relative):
//   u8 revision (1), u8 sbz1, u16 control (SE_SELF_RELATIVE set),
//   u32 offset of owner SID, group SID, SACL, DACL (0: none), then the parts.
// SID: u8 revision (1), u8 sub-authority count (<= 15), 6-byte authority,
//   4 bytes per sub-authority.
// ACL: u8 revision (2 or 4), u8 sbz1, u16 size (>= 8), u16 ACE count,
//   u16 sbz2, then the ACEs: u8 type, u8 flags, u16 size (>= 4, a multiple
//   of 4), body; the ACEs lie inside the ACL's size.
#pragma once

#include <cstddef>
#include <cstdint>

#include "obagent/bytes.h"
#include "obagent/status.h"

namespace obagent::win_security {

// SECURITY_DESCRIPTOR_CONTROL bits (winnt.h values).
inline constexpr uint16_t kDaclPresent = 0x0004;
inline constexpr uint16_t kSaclPresent = 0x0010;
inline constexpr uint16_t kDaclAutoInherited = 0x0400;
inline constexpr uint16_t kSaclAutoInherited = 0x0800;
inline constexpr uint16_t kDaclProtected = 0x1000;
inline constexpr uint16_t kSaclProtected = 0x2000;
inline constexpr uint16_t kSelfRelative = 0x8000;

inline constexpr size_t kHeaderSize = 20;
// The largest descriptor a tree holds: an ACL's size is a u16, so a
// descriptor with a full DACL and a full SACL could exceed it, but no file
// server's does; a bigger one is refused (backup) or corrupt (tree).
inline constexpr size_t kMaxSecurityDescriptorSize = 65536;

// What a well-formed descriptor holds.
struct SecurityDescriptorParts {
  uint16_t control = 0;
  bool owner = false;
  bool group = false;
  bool dacl = false;  // SE_DACL_PRESENT: a DACL (possibly NULL: everyone) is set
  bool sacl = false;  // SE_SACL_PRESENT
  bool dacl_protected() const { return (control & kDaclProtected) != 0; }
  bool sacl_protected() const { return (control & kSaclProtected) != 0; }
};

// kCorrupt with what is wrong unless `sd` is a well-formed self-relative
// descriptor of at most kMaxSecurityDescriptorSize bytes: revision 1,
// SE_SELF_RELATIVE, every present part's offset past the header and its
// whole extent inside the buffer, SIDs and ACLs (and each ACE's header, and
// the SID of the ACE types that carry one right after the mask) consistent,
// an ACL only where its present bit says so.
Result<SecurityDescriptorParts> CheckSecurityDescriptor(ByteView sd);

}  // namespace obagent::win_security
