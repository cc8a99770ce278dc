// Builds self-relative Windows security descriptors byte by byte for tests
// (core/security_descriptor.h's layout), on any OS: the tree, engine and
// platform tests record, parse and plan with them without Windows' API.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/core/security_descriptor.h"

namespace obagent::win_security::test_util {

inline void PutU16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}

inline void PutU32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// (The resize never happens in the tests; it tells GCC the bytes exist.)
inline void SetU16(Bytes& b, size_t at, uint16_t v) {
  if (b.size() < at + 2) b.resize(at + 2);
  b[at] = static_cast<uint8_t>(v);
  b[at + 1] = static_cast<uint8_t>(v >> 8);
}

inline void SetU32(Bytes& b, size_t at, uint32_t v) {
  if (b.size() < at + 4) b.resize(at + 4);
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

// S-1-<authority>-<subs...>.
inline Bytes Sid(uint64_t authority, std::initializer_list<uint32_t> subs) {
  Bytes b = {1, static_cast<uint8_t>(subs.size())};
  for (int i = 5; i >= 0; --i) b.push_back(static_cast<uint8_t>(authority >> (8 * i)));
  for (uint32_t s : subs) PutU32(b, s);
  return b;
}

inline Bytes Administrators() { return Sid(5, {32, 544}); }
inline Bytes LocalSystem() { return Sid(5, {18}); }
inline Bytes Everyone() { return Sid(1, {0}); }

// An ACE whose body is a mask and a SID (ACCESS_ALLOWED 0, ACCESS_DENIED 1,
// SYSTEM_AUDIT 2).
inline Bytes Ace(uint8_t type, uint8_t flags, uint32_t mask, const Bytes& sid) {
  Bytes b = {type, flags};
  PutU16(b, static_cast<uint16_t>(8 + sid.size()));
  PutU32(b, mask);
  b.insert(b.end(), sid.begin(), sid.end());
  return b;
}

inline Bytes Acl(std::initializer_list<Bytes> aces) {
  Bytes body;
  for (const Bytes& a : aces) body.insert(body.end(), a.begin(), a.end());
  Bytes b = {2, 0};
  PutU16(b, static_cast<uint16_t>(8 + body.size()));
  PutU16(b, static_cast<uint16_t>(aces.size()));
  PutU16(b, 0);
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

struct Parts {
  std::optional<Bytes> owner = Administrators();
  std::optional<Bytes> group = LocalSystem();
  std::optional<Bytes> dacl;  // with SE_DACL_PRESENT (dacl_present and none: NULL DACL)
  bool dacl_present = true;
  std::optional<Bytes> sacl;
  uint16_t extra_control = 0;  // SE_DACL_PROTECTED, ...
};

// Self-relative: header, owner, group, SACL, DACL, in that order.
inline Bytes Descriptor(const Parts& p) {
  Bytes b = {1, 0};
  uint16_t control = kSelfRelative | p.extra_control;
  if (p.dacl_present) control |= kDaclPresent;
  if (p.sacl) control |= kSaclPresent;
  PutU16(b, control);
  for (int i = 0; i < 4; ++i) PutU32(b, 0);
  auto append = [&](const std::optional<Bytes>& part, size_t field) {
    if (!part) return;
    SetU32(b, field, static_cast<uint32_t>(b.size()));
    b.insert(b.end(), part->begin(), part->end());
  };
  append(p.owner, 4);
  append(p.group, 8);
  append(p.sacl, 12);
  append(p.dacl, 16);
  return b;
}

// O:BA G:SY D:P(A;OICI;FA;;;BA)(A;;FR;;;WD): what a file server's share
// root often has.
inline Bytes SampleDescriptor() {
  Parts p;
  p.dacl = Acl({Ace(0, 0x03, 0x001F01FF, Administrators()), Ace(0, 0, 0x00120089, Everyone())});
  p.extra_control = kDaclProtected;
  return Descriptor(p);
}

}  // namespace obagent::win_security::test_util
