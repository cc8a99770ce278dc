#include "obagent/core/index.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace obagent::index {
namespace {

constexpr std::string_view kAad = "obagent-index-v1";

ObjectId IdOf(uint8_t fill) {
  ObjectId id;
  id.bytes.fill(fill);
  return id;
}

std::string PackName(uint8_t fill) { return IdOf(fill).Hex(); }

std::vector<PackEntries> SamplePacks() {
  PackEntries a;
  a.pack_name = PackName(0xa0);
  a.blobs = {{pack::BlobType::kData, IdOf(1), 8, 1028, 1000},
             {pack::BlobType::kTree, IdOf(2), 1036, 31, 3}};
  PackEntries b;
  b.pack_name = PackName(0xb0);
  b.blobs = {{pack::BlobType::kData, IdOf(3), 8, 4000000, 3999972}};
  PackEntries empty;
  empty.pack_name = PackName(0xc0);
  return {a, b, empty};
}

void ExpectSame(const std::vector<PackEntries>& got, const std::vector<PackEntries>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].pack_name, want[i].pack_name);
    ASSERT_EQ(got[i].blobs.size(), want[i].blobs.size());
    for (size_t j = 0; j < got[i].blobs.size(); ++j) {
      const auto& g = got[i].blobs[j];
      const auto& w = want[i].blobs[j];
      EXPECT_EQ(g.type, w.type);
      EXPECT_EQ(g.id, w.id);
      EXPECT_EQ(g.offset, w.offset);
      EXPECT_EQ(g.length, w.length);
      EXPECT_EQ(g.raw_length, w.raw_length);
    }
  }
}

void PutU32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

TEST(Index, FileRoundTrip) {
  const crypto::Key key = crypto::RandomKey();
  const auto packs = SamplePacks();
  const Bytes sealed = SealIndexFile(key, packs);
  auto opened = OpenIndexFile(key, sealed);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ExpectSame(*opened, packs);
}

TEST(Index, EmptyFileRoundTrips) {
  const crypto::Key key = crypto::RandomKey();
  auto opened = OpenIndexFile(key, SealIndexFile(key, {}));
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(opened->empty());
}

TEST(Index, TamperDetected) {
  const crypto::Key key = crypto::RandomKey();
  const Bytes sealed = SealIndexFile(key, SamplePacks());
  for (size_t i = 0; i < sealed.size(); ++i) {
    Bytes tampered = sealed;
    tampered[i] ^= 0x10;
    auto opened = OpenIndexFile(key, tampered);
    ASSERT_FALSE(opened.ok()) << "flip at " << i;
    EXPECT_EQ(opened.status().code(), ErrorCode::kCorrupt);
  }
  EXPECT_FALSE(OpenIndexFile(key, ByteView(sealed).first(sealed.size() - 1)).ok());
  EXPECT_FALSE(OpenIndexFile(crypto::RandomKey(), sealed).ok());
}

TEST(Index, OtherAadRejected) {
  const crypto::Key key = crypto::RandomKey();
  Bytes plain;
  PutU32(plain, 1);
  PutU32(plain, 0);
  const Bytes sealed = crypto::Seal(key, AsBytes("obagent-pack-header-v1"), plain);
  EXPECT_EQ(OpenIndexFile(key, sealed).status().code(), ErrorCode::kCorrupt);
}

TEST(Index, UnknownVersionRefused) {
  const crypto::Key key = crypto::RandomKey();
  Bytes plain;
  PutU32(plain, 2);
  PutU32(plain, 0);
  auto opened = OpenIndexFile(key, crypto::Seal(key, AsBytes(kAad), plain));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kUnsupportedVersion);
}

TEST(Index, MalformedPlaintextRejected) {
  const crypto::Key key = crypto::RandomKey();
  // A validly sealed index whose plaintext is cut at every length.
  Bytes plain;
  PutU32(plain, 1);
  PutU32(plain, 1);
  const ObjectId name = IdOf(0xa0);
  plain.insert(plain.end(), name.bytes.begin(), name.bytes.end());
  PutU32(plain, 1);
  plain.push_back(1);
  const ObjectId id = IdOf(1);
  plain.insert(plain.end(), id.bytes.begin(), id.bytes.end());
  PutU32(plain, 8);
  PutU32(plain, 40);
  PutU32(plain, 12);
  ASSERT_TRUE(OpenIndexFile(key, crypto::Seal(key, AsBytes(kAad), plain)).ok());
  for (size_t len = 0; len < plain.size(); ++len) {
    auto opened = OpenIndexFile(key, crypto::Seal(key, AsBytes(kAad), ByteView(plain).first(len)));
    ASSERT_FALSE(opened.ok()) << len;
    EXPECT_EQ(opened.status().code(), ErrorCode::kCorrupt);
  }
  Bytes trailing = plain;
  trailing.push_back(0);
  EXPECT_EQ(OpenIndexFile(key, crypto::Seal(key, AsBytes(kAad), trailing)).status().code(),
            ErrorCode::kCorrupt);
  Bytes bad_type = plain;
  bad_type[8 + 32 + 4] = 7;
  EXPECT_EQ(OpenIndexFile(key, crypto::Seal(key, AsBytes(kAad), bad_type)).status().code(),
            ErrorCode::kCorrupt);
  Bytes huge_count = plain;
  huge_count[4] = 0xff;
  huge_count[5] = 0xff;
  huge_count[6] = 0xff;
  huge_count[7] = 0xff;
  EXPECT_EQ(OpenIndexFile(key, crypto::Seal(key, AsBytes(kAad), huge_count)).status().code(),
            ErrorCode::kCorrupt);
}

TEST(Index, Find) {
  Index index;
  EXPECT_EQ(index.Find(IdOf(1)), nullptr);
  for (const PackEntries& p : SamplePacks()) index.Add(p);
  EXPECT_EQ(index.blob_count(), 3u);
  ASSERT_EQ(index.pack_names().size(), 3u);

  const Location* loc = index.Find(IdOf(2));
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(index.pack_names()[loc->pack], PackName(0xa0));
  EXPECT_EQ(loc->type, pack::BlobType::kTree);
  EXPECT_EQ(loc->offset, 1036u);
  EXPECT_EQ(loc->length, 31u);
  EXPECT_EQ(loc->raw_length, 3u);

  loc = index.Find(IdOf(3));
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(index.pack_names()[loc->pack], PackName(0xb0));
  EXPECT_TRUE(index.Contains(IdOf(1)));
  EXPECT_FALSE(index.Contains(IdOf(99)));
}

TEST(Index, KeepsFirstLocationAndDedupsPacks) {
  Index index;
  PackEntries first;
  first.pack_name = PackName(1);
  first.blobs = {{pack::BlobType::kData, IdOf(5), 8, 100, 70}};
  PackEntries second;
  second.pack_name = PackName(2);
  second.blobs = {{pack::BlobType::kData, IdOf(5), 500, 100, 70},
                  {pack::BlobType::kData, IdOf(6), 8, 100, 70}};
  index.Add(first);
  index.Add(second);
  index.Add(first);  // the same pack again
  EXPECT_EQ(index.pack_names(), (std::vector<std::string>{PackName(1), PackName(2)}));
  EXPECT_EQ(index.blob_count(), 2u);
  const Location* loc = index.Find(IdOf(5));
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(loc->pack, 0u);
  EXPECT_EQ(loc->offset, 8u);
  loc = index.Find(IdOf(6));
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(loc->pack, 1u);
}

TEST(Index, LoadedFromFiles) {
  const crypto::Key key = crypto::RandomKey();
  auto opened = OpenIndexFile(key, SealIndexFile(key, SamplePacks()));
  ASSERT_TRUE(opened.ok());
  Index index;
  for (const PackEntries& p : *opened) index.Add(p);
  EXPECT_EQ(index.blob_count(), 3u);
  EXPECT_TRUE(index.Contains(IdOf(3)));
}

TEST(Index, KeepsEveryCopyAndFallsBackWhenOneIsRemoved) {
  PackEntries first{PackName(1), {{pack::BlobType::kData, IdOf(5), 8, 100, 70}}};
  PackEntries second{PackName(2), {{pack::BlobType::kData, IdOf(5), 500, 100, 70}}};
  PackEntries third{PackName(3), {{pack::BlobType::kData, IdOf(5), 40, 100, 70}}};
  Index index;
  index.Add(first);
  index.Add(second);
  index.Add(third);
  index.Add(second);  // the same pack again adds no copy
  EXPECT_EQ(index.blob_count(), 1u);
  std::vector<Location> all = index.FindAll(IdOf(5));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].pack, 0u);
  ASSERT_TRUE(index.FindIn(IdOf(5), PackName(2)));
  EXPECT_EQ(index.FindIn(IdOf(5), PackName(2))->offset, 500u);
  EXPECT_FALSE(index.FindIn(IdOf(5), PackName(4)));
  // The preferred copy goes: an alternate takes its place.
  index.RemoveCopy(IdOf(5), PackName(1));
  ASSERT_NE(index.Find(IdOf(5)), nullptr);
  EXPECT_NE(index.Find(IdOf(5))->pack, 0u);
  EXPECT_EQ(index.FindAll(IdOf(5)).size(), 2u);
  EXPECT_FALSE(index.FindIn(IdOf(5), PackName(1)));
  // An alternate goes; then the last copy: the blob is no longer indexed.
  index.RemoveCopy(IdOf(5), PackName(3));
  EXPECT_EQ(index.FindAll(IdOf(5)).size(), 1u);
  EXPECT_EQ(index.Find(IdOf(5))->offset, 500u);
  index.RemoveCopy(IdOf(5), PackName(2));
  EXPECT_FALSE(index.Contains(IdOf(5)));
  EXPECT_TRUE(index.FindAll(IdOf(5)).empty());
  index.RemoveCopy(IdOf(5), PackName(2));  // nothing left: no effect
}

TEST(DamageRecord, RoundTripsAndRefusesTampering) {
  const crypto::Key key = crypto::RandomKey();
  std::vector<DamagedCopy> copies{{IdOf(1), PackName(2)}, {IdOf(3), PackName(4)}};
  Bytes sealed = SealDamageRecord(key, copies);
  auto opened = OpenDamageRecord(key, sealed);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, copies);
  auto empty = OpenDamageRecord(key, SealDamageRecord(key, {}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  sealed[sealed.size() / 2] ^= 1;
  auto tampered = OpenDamageRecord(key, sealed);
  ASSERT_FALSE(tampered.ok());
  EXPECT_EQ(tampered.status().code(), ErrorCode::kCorrupt);
  // An index file is not a damage record (different associated data).
  EXPECT_FALSE(OpenDamageRecord(key, SealIndexFile(key, SamplePacks())).ok());
  EXPECT_FALSE(OpenDamageRecord(crypto::RandomKey(), SealDamageRecord(key, copies)).ok());
}

}  // namespace
}  // namespace obagent::index
