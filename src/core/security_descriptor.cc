// Structural check of self-relative Windows security descriptors
// (core/security_descriptor.h). Bounded: every read is checked against the
// buffer, each ACL is walked once, an ACE count is never trusted beyond
// what the ACL's size can hold.
#include "obagent/core/security_descriptor.h"

#include <string>

namespace obagent::win_security {
namespace {

constexpr uint8_t kSdRevision = 1;
constexpr uint8_t kSidRevision = 1;
constexpr uint8_t kMaxSubAuthorities = 15;  // SID_MAX_SUB_AUTHORITIES
constexpr size_t kSidFixedSize = 8;
constexpr uint8_t kAclRevision = 2;    // ACL_REVISION
constexpr uint8_t kAclRevisionDs = 4;  // ACL_REVISION_DS (object ACEs)
constexpr size_t kAclHeaderSize = 8;
constexpr size_t kAceHeaderSize = 4;

uint16_t U16(ByteView b, size_t at) {
  return static_cast<uint16_t>(b[at] | (static_cast<uint16_t>(b[at + 1]) << 8));
}

uint32_t U32(ByteView b, size_t at) {
  return static_cast<uint32_t>(b[at]) | (static_cast<uint32_t>(b[at + 1]) << 8) |
         (static_cast<uint32_t>(b[at + 2]) << 16) | (static_cast<uint32_t>(b[at + 3]) << 24);
}

Status Bad(const std::string& what) { return Corrupt("security descriptor: " + what); }

// The size of the SID at `at` if it lies within [at, end), else 0.
size_t SidSize(ByteView b, size_t at, size_t end) {
  if (at > end || end - at < kSidFixedSize) return 0;
  if (b[at] != kSidRevision || b[at + 1] > kMaxSubAuthorities) return 0;
  const size_t size = kSidFixedSize + 4 * static_cast<size_t>(b[at + 1]);
  return size <= end - at ? size : 0;
}

// ACE types whose body is an access mask and then a SID (ACCESS_ALLOWED,
// ACCESS_DENIED, SYSTEM_AUDIT, SYSTEM_ALARM, their callback forms,
// SYSTEM_MANDATORY_LABEL, SYSTEM_RESOURCE_ATTRIBUTE, SYSTEM_SCOPED_POLICY_ID,
// SYSTEM_PROCESS_TRUST_LABEL, ACCESS_FILTER); the object ACE types (mask,
// flags, up to two GUIDs, then the SID). Other types are checked by their
// header only.
bool MaskThenSid(uint8_t type) {
  switch (type) {
    case 0x00:
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x09:
    case 0x0A:
    case 0x0D:
    case 0x0E:
    case 0x11:
    case 0x12:
    case 0x13:
    case 0x14:
    case 0x15:
      return true;
    default:
      return false;
  }
}

bool ObjectAce(uint8_t type) {
  switch (type) {
    case 0x05:
    case 0x06:
    case 0x07:
    case 0x08:
    case 0x0B:
    case 0x0C:
    case 0x0F:
    case 0x10:
      return true;
    default:
      return false;
  }
}

Status CheckAce(ByteView b, size_t at, size_t size) {
  const uint8_t type = b[at];
  const size_t end = at + size;
  size_t sid_at = 0;
  if (MaskThenSid(type)) {
    sid_at = at + kAceHeaderSize + 4;
  } else if (ObjectAce(type)) {
    if (size < kAceHeaderSize + 8) return Bad("object ACE too short");
    const uint32_t flags = U32(b, at + kAceHeaderSize + 4);
    sid_at = at + kAceHeaderSize + 8 + ((flags & 1) ? 16 : 0) + ((flags & 2) ? 16 : 0);
  } else {
    return Status::Ok();
  }
  if (SidSize(b, sid_at, end) == 0)
    return Bad("ACE of type " + std::to_string(type) + " has no valid SID");
  return Status::Ok();
}

Status CheckAcl(ByteView b, size_t at, const char* which) {
  const std::string name(which);
  if (b.size() - at < kAclHeaderSize) return Bad(name + " header outside the descriptor");
  const uint8_t revision = b[at];
  if (revision != kAclRevision && revision != kAclRevisionDs) {
    return Bad(name + " revision " + std::to_string(revision));
  }
  const size_t acl_size = U16(b, at + 2);
  const size_t count = U16(b, at + 4);
  if (acl_size < kAclHeaderSize || acl_size % 4 != 0) return Bad(name + " size is not valid");
  if (acl_size > b.size() - at) return Bad(name + " extends past the descriptor");
  const size_t end = at + acl_size;
  // Every ACE takes at least its header: a count the size cannot hold is
  // refused before walking.
  if (count > (acl_size - kAclHeaderSize) / kAceHeaderSize)
    return Bad(name + " ACE count too large");
  size_t pos = at + kAclHeaderSize;
  for (size_t i = 0; i < count; ++i) {
    if (end - pos < kAceHeaderSize) return Bad(name + " ACE header outside the ACL");
    const size_t ace_size = U16(b, pos + 2);
    if (ace_size < kAceHeaderSize || ace_size % 4 != 0 || ace_size > end - pos) {
      return Bad(name + " ACE size is not valid");
    }
    OB_RETURN_IF_ERROR(CheckAce(b, pos, ace_size));
    pos += ace_size;
  }
  return Status::Ok();
}

}  // namespace

Result<SecurityDescriptorParts> CheckSecurityDescriptor(ByteView sd) {
  if (sd.size() > kMaxSecurityDescriptorSize) return Bad("larger than 64 KiB");
  if (sd.size() < kHeaderSize) return Bad("shorter than its header");
  if (sd[0] != kSdRevision) return Bad("revision " + std::to_string(sd[0]));
  SecurityDescriptorParts parts;
  parts.control = U16(sd, 2);
  if (!(parts.control & kSelfRelative)) return Bad("not self-relative");
  const uint32_t owner = U32(sd, 4);
  const uint32_t group = U32(sd, 8);
  const uint32_t sacl = U32(sd, 12);
  const uint32_t dacl = U32(sd, 16);
  auto inside = [&](uint32_t offset) { return offset >= kHeaderSize && offset < sd.size(); };
  for (uint32_t offset : {owner, group}) {
    if (offset == 0) continue;
    if (!inside(offset) || SidSize(sd, offset, sd.size()) == 0) {
      return Bad(std::string(offset == owner ? "owner" : "group") + " SID is not valid");
    }
  }
  parts.owner = owner != 0;
  parts.group = group != 0;
  parts.dacl = (parts.control & kDaclPresent) != 0;
  parts.sacl = (parts.control & kSaclPresent) != 0;
  if (dacl != 0) {
    if (!parts.dacl) return Bad("DACL offset without SE_DACL_PRESENT");
    if (!inside(dacl)) return Bad("DACL offset outside the descriptor");
    OB_RETURN_IF_ERROR(CheckAcl(sd, dacl, "DACL"));
  }
  if (sacl != 0) {
    if (!parts.sacl) return Bad("SACL offset without SE_SACL_PRESENT");
    if (!inside(sacl)) return Bad("SACL offset outside the descriptor");
    OB_RETURN_IF_ERROR(CheckAcl(sd, sacl, "SACL"));
  }
  return parts;
}

}  // namespace obagent::win_security
