// The structural check of recorded Windows security descriptors
// (core/security_descriptor.h): well-formed ones pass with their parts,
// every kind of malformed one is refused, never read past its end.
#include "obagent/core/security_descriptor.h"

#include <gtest/gtest.h>

#include <random>

#include "core/security_descriptor_test_util.h"

namespace obagent::win_security {
namespace {

using namespace test_util;

TEST(SecurityDescriptor, SampleMatchesWindowsLayout) {
  // The same descriptor as ConvertStringSecurityDescriptorToSecurityDescriptor
  // builds for "O:BA G:SY D:P(A;OICI;FA;;;BA)(A;;FR;;;WD)", written out.
  Result<Bytes> expected = FromHex(
      "010004901400000024000000000000003000000001020000000000052000000020020000010100000000000512"
      "000000020034000200000000031800ff011f00010200000000000520000000200200000000140089001200010100"
      "000000000100000000");
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(SampleDescriptor(), *expected);
  Result<SecurityDescriptorParts> parts = CheckSecurityDescriptor(*expected);
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  EXPECT_TRUE(parts->owner);
  EXPECT_TRUE(parts->group);
  EXPECT_TRUE(parts->dacl);
  EXPECT_TRUE(parts->dacl_protected());
  EXPECT_FALSE(parts->sacl);
}

TEST(SecurityDescriptor, AcceptsEveryWellFormedShape) {
  Parts with_sacl;
  with_sacl.dacl = Acl({Ace(1, 0, 0x10000, Everyone()), Ace(0, 0x10, 0x1F01FF, LocalSystem())});
  with_sacl.sacl = Acl({Ace(2, 0xC0, 0x10000, Everyone())});
  with_sacl.extra_control = kDaclAutoInherited;
  auto parts = CheckSecurityDescriptor(Descriptor(with_sacl));
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  EXPECT_TRUE(parts->sacl);
  EXPECT_FALSE(parts->dacl_protected());

  Parts null_dacl;  // SE_DACL_PRESENT without a DACL: everyone has access
  EXPECT_TRUE(CheckSecurityDescriptor(Descriptor(null_dacl)).ok());
  Parts no_owner;
  no_owner.owner.reset();
  no_owner.group.reset();
  no_owner.dacl_present = false;
  auto bare = CheckSecurityDescriptor(Descriptor(no_owner));
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(bare->owner || bare->group || bare->dacl || bare->sacl);
  Parts empty_dacl;  // a DACL without entries: nobody has access
  empty_dacl.dacl = Acl({});
  EXPECT_TRUE(CheckSecurityDescriptor(Descriptor(empty_dacl)).ok());

  // An object ACE (ACCESS_ALLOWED_OBJECT, both GUIDs present) and an ACE
  // type this check does not know (only its header is checked).
  Bytes object = {5, 0, 0, 0};
  PutU32(object, 0x100);
  PutU32(object, 3);
  object.insert(object.end(), 32, 0xAB);
  Bytes sid = Everyone();
  object.insert(object.end(), sid.begin(), sid.end());
  SetU16(object, 2, static_cast<uint16_t>(object.size()));
  Bytes unknown = {0x7F, 0, 8, 0, 1, 2, 3, 4};
  Parts odd;
  odd.dacl = Acl({object, unknown});
  EXPECT_TRUE(CheckSecurityDescriptor(Descriptor(odd)).ok());
}

TEST(SecurityDescriptor, TruncatedAtEveryLengthIsRefused) {
  const Bytes sd = SampleDescriptor();
  for (size_t n = 0; n < sd.size(); ++n) {
    auto parts = CheckSecurityDescriptor(ByteView(sd.data(), n));
    ASSERT_FALSE(parts.ok()) << n;
    EXPECT_EQ(parts.status().code(), ErrorCode::kCorrupt);
  }
}

TEST(SecurityDescriptor, MalformedDescriptorsAreRefused) {
  const Bytes good = SampleDescriptor();
  const size_t owner = 20, group = 36, dacl = 48;  // SampleDescriptor's layout
  struct Case {
    const char* what;
    Bytes sd;
  };
  std::vector<Case> cases;
  auto edit = [&](const char* what, auto change) {
    Bytes b = good;
    change(b);
    cases.push_back({what, b});
  };
  edit("revision 2", [](Bytes& b) { b[0] = 2; });
  edit("absolute form", [](Bytes& b) { SetU16(b, 2, 0x1004); });
  edit("owner offset past the end", [](Bytes& b) { SetU32(b, 4, 100); });
  edit("owner offset inside the header", [](Bytes& b) { SetU32(b, 4, 8); });
  edit("owner offset huge", [](Bytes& b) { SetU32(b, 4, 0xFFFFFFF0u); });
  edit("owner SID revision", [&](Bytes& b) { b[owner] = 2; });
  edit("owner SID too many sub-authorities", [&](Bytes& b) { b[owner + 1] = 16; });
  edit("group SID past the end", [&](Bytes& b) { SetU32(b, 8, 96); });
  edit("group SID count runs past the end", [&](Bytes& b) {
    SetU32(b, 8, 88);
    b[88] = 1;
    b[89] = 3;
  });
  (void)group;
  edit("DACL offset without its present bit", [](Bytes& b) { SetU16(b, 2, 0x9000); });
  edit("DACL offset past the end", [](Bytes& b) { SetU32(b, 16, 100); });
  edit("DACL header cut by the end", [](Bytes& b) { SetU32(b, 16, 96); });
  edit("SACL offset without its present bit", [](Bytes& b) { SetU32(b, 12, 48); });
  edit("SACL offset past the end", [](Bytes& b) {
    SetU16(b, 2, 0x9014);
    SetU32(b, 12, 1000);
  });
  edit("ACL revision 3", [&](Bytes& b) { b[dacl] = 3; });
  edit("ACL size past the end", [&](Bytes& b) { SetU16(b, dacl + 2, 56); });
  edit("ACL size below its header", [&](Bytes& b) { SetU16(b, dacl + 2, 4); });
  edit("ACL size not a multiple of 4", [&](Bytes& b) { SetU16(b, dacl + 2, 51); });
  edit("ACE count beyond the ACL", [&](Bytes& b) { SetU16(b, dacl + 4, 3); });
  edit("ACE count that the size cannot hold", [&](Bytes& b) { SetU16(b, dacl + 4, 0xFFFF); });
  edit("ACE size zero", [&](Bytes& b) { SetU16(b, dacl + 8 + 2, 0); });
  edit("ACE size past the ACL", [&](Bytes& b) { SetU16(b, dacl + 8 + 2, 48); });
  edit("ACE size not a multiple of 4", [&](Bytes& b) { SetU16(b, dacl + 8 + 2, 22); });
  edit("ACE SID cut by the ACE size", [&](Bytes& b) {
    SetU16(b, dacl + 8 + 2, 20);  // the first ACE's SID needs 16 bytes after the mask
    SetU16(b, dacl + 4, 1);
  });
  edit("ACE SID revision", [&](Bytes& b) { b[dacl + 8 + 8] = 0; });
  cases.push_back({"larger than 64 KiB", [&] {
                     Bytes b = good;
                     b.resize(kMaxSecurityDescriptorSize + 1);
                     return b;
                   }()});
  for (const Case& c : cases) {
    auto parts = CheckSecurityDescriptor(c.sd);
    ASSERT_FALSE(parts.ok()) << c.what;
    EXPECT_EQ(parts.status().code(), ErrorCode::kCorrupt) << c.what;
  }
  // Trailing bytes the offsets do not reach are allowed (Windows pads), up
  // to the bound.
  Bytes padded = good;
  padded.resize(kMaxSecurityDescriptorSize, 0);
  EXPECT_TRUE(CheckSecurityDescriptor(padded).ok());
}

TEST(SecurityDescriptor, RandomCorruptionNeverReadsOutside) {
  // Under the sanitizers a read past the buffer aborts; here every input
  // gets an answer.
  Parts p;
  p.dacl = Acl({Ace(0, 3, 0x1F01FF, Administrators()), Ace(1, 0, 0x10000, Everyone())});
  p.sacl = Acl({Ace(2, 0xC0, 0x10000, Everyone())});
  const Bytes sd = Descriptor(p);
  std::mt19937 rng(7);
  for (int round = 0; round < 20000; ++round) {
    Bytes mutated = sd;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) mutated[rng() % mutated.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) mutated.resize(rng() % mutated.size());
    // Copy into an exactly-sized heap buffer so ASan sees the end.
    std::vector<uint8_t> exact(mutated.begin(), mutated.end());
    (void)CheckSecurityDescriptor(exact).ok();
  }
}

}  // namespace
}  // namespace obagent::win_security
