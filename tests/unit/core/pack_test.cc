#include "obagent/core/pack.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace obagent::pack {
namespace {

constexpr std::string_view kHeaderAad = "obagent-pack-header-v1";

ObjectId IdOf(uint8_t fill) {
  ObjectId id;
  id.bytes.fill(fill);
  return id;
}

struct Blob {
  BlobType type;
  ObjectId id;
  Bytes payload;
};

std::vector<Blob> SampleBlobs() {
  std::vector<Blob> blobs;
  blobs.push_back({BlobType::kData, IdOf(1), Bytes(1000, 0xab)});
  blobs.push_back({BlobType::kTree, IdOf(2), Bytes{1, 2, 3}});
  blobs.push_back({BlobType::kData, IdOf(3), Bytes{}});
  Bytes big(200000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
  blobs.push_back({BlobType::kData, IdOf(4), big});
  return blobs;
}

PackWriter::Finished WritePack(const crypto::Key& key, const std::vector<Blob>& blobs) {
  PackWriter writer(key);
  for (const Blob& b : blobs) {
    writer.Add(b.type, b.id, SealBlob(key, b.type, b.id, b.payload),
               static_cast<uint32_t>(b.payload.size()));
  }
  return writer.Finish();
}

// Where the sealed header starts: everything from there on is "header region".
size_t HeaderStart(const Bytes& pack) {
  const uint8_t* p = pack.data() + pack.size() - 12;
  const uint32_t len = static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
                       static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
  return pack.size() - 12 - len;
}

void PutU32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A pack with `area` blob bytes and a hand-made (validly sealed) header.
Bytes CraftPack(const crypto::Key& key, size_t area, const std::vector<BlobEntry>& entries) {
  Bytes pack(8 + area, 0x11);
  const std::string_view magic = "OBPACK01";
  std::copy(magic.begin(), magic.end(), pack.begin());
  Bytes plain;
  PutU32(plain, static_cast<uint32_t>(entries.size()));
  for (const BlobEntry& e : entries) {
    plain.push_back(static_cast<uint8_t>(e.type));
    plain.insert(plain.end(), e.id.bytes.begin(), e.id.bytes.end());
    PutU32(plain, e.offset);
    PutU32(plain, e.length);
    PutU32(plain, e.raw_length);
  }
  Bytes header = crypto::Seal(key, AsBytes(kHeaderAad), plain);
  pack.insert(pack.end(), header.begin(), header.end());
  PutU32(pack, static_cast<uint32_t>(header.size()));
  const std::string_view trailer = "OBPKEND1";
  pack.insert(pack.end(), trailer.begin(), trailer.end());
  return pack;
}

TEST(Pack, RoundTrip) {
  const crypto::Key key = crypto::RandomKey();
  const auto blobs = SampleBlobs();
  auto done = WritePack(key, blobs);
  ASSERT_EQ(done.entries.size(), blobs.size());

  auto entries = ReadPackHeader(key, done.bytes);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i) {
    const BlobEntry& e = (*entries)[i];
    EXPECT_EQ(e.type, blobs[i].type);
    EXPECT_EQ(e.id, blobs[i].id);
    EXPECT_EQ(e.raw_length, blobs[i].payload.size());
    EXPECT_EQ(e.length, blobs[i].payload.size() + crypto::kSealOverhead);
    EXPECT_EQ(e.offset, done.entries[i].offset);
    auto opened = OpenBlob(key, e.type, e.id, ByteView(done.bytes).subspan(e.offset, e.length));
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, blobs[i].payload);
  }
}

TEST(Pack, LayoutMatchesFormat) {
  const crypto::Key key = crypto::RandomKey();
  auto done = WritePack(key, SampleBlobs());
  ASSERT_GE(done.bytes.size(), 16u);
  EXPECT_EQ(AsString(ByteView(done.bytes).first(8)), "OBPACK01");
  EXPECT_EQ(AsString(ByteView(done.bytes).last(8)), "OBPKEND1");
  EXPECT_EQ(done.entries.front().offset, 8u);
}

TEST(Pack, NameIsSha256OfBytes) {
  const crypto::Key key = crypto::RandomKey();
  auto done = WritePack(key, SampleBlobs());
  EXPECT_EQ(done.name, ToHex(crypto::Sha256(done.bytes)));
  EXPECT_EQ(done.name.size(), 64u);
}

TEST(Pack, WriterIsReusableAfterFinish) {
  const crypto::Key key = crypto::RandomKey();
  PackWriter writer(key);
  const Bytes payload = {9, 9, 9};
  writer.Add(BlobType::kData, IdOf(7), SealBlob(key, BlobType::kData, IdOf(7), payload), 3);
  EXPECT_FALSE(writer.empty());
  EXPECT_EQ(writer.blob_count(), 1u);
  auto first = writer.Finish();
  EXPECT_TRUE(writer.empty());
  EXPECT_EQ(writer.blob_count(), 0u);
  writer.Add(BlobType::kTree, IdOf(8), SealBlob(key, BlobType::kTree, IdOf(8), payload), 3);
  auto second = writer.Finish();
  EXPECT_NE(first.name, second.name);
  auto entries = ReadPackHeader(key, second.bytes);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].id, IdOf(8));
  EXPECT_EQ((*entries)[0].offset, 8u);
}

TEST(Pack, EmptyPackRoundTrips) {
  const crypto::Key key = crypto::RandomKey();
  PackWriter writer(key);
  auto done = writer.Finish();
  auto entries = ReadPackHeader(key, done.bytes);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  EXPECT_TRUE(entries->empty());
}

TEST(Pack, AnyFlippedByteInHeaderRegionDetected) {
  const crypto::Key key = crypto::RandomKey();
  auto done = WritePack(key, SampleBlobs());
  const size_t start = HeaderStart(done.bytes);
  std::vector<size_t> positions;
  for (size_t i = 0; i < 8; ++i) positions.push_back(i);  // magic
  for (size_t i = start; i < done.bytes.size(); ++i) positions.push_back(i);
  for (size_t pos : positions) {
    for (uint8_t bit : {0x01, 0x80}) {
      Bytes tampered = done.bytes;
      tampered[pos] ^= bit;
      auto entries = ReadPackHeader(key, tampered);
      EXPECT_FALSE(entries.ok()) << "flip at " << pos;
    }
  }
}

TEST(Pack, FlippedBlobByteDetectedOnOpen) {
  const crypto::Key key = crypto::RandomKey();
  auto done = WritePack(key, SampleBlobs());
  const BlobEntry& e = done.entries[1];
  for (uint32_t i = 0; i < e.length; ++i) {
    Bytes tampered = done.bytes;
    tampered[e.offset + i] ^= 0x04;
    auto opened = OpenBlob(key, e.type, e.id, ByteView(tampered).subspan(e.offset, e.length));
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().code(), ErrorCode::kCorrupt);
  }
}

TEST(Pack, SwappedBlobDetected) {
  const crypto::Key key = crypto::RandomKey();
  auto done = WritePack(key, SampleBlobs());
  const BlobEntry& a = done.entries[0];
  const BlobEntry& b = done.entries[3];
  ASSERT_EQ(a.type, b.type);
  // Blob a's bytes presented as blob b.
  auto opened = OpenBlob(key, b.type, b.id, ByteView(done.bytes).subspan(a.offset, a.length));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kCorrupt);
  // The right bytes under the wrong type.
  auto wrong_type =
      OpenBlob(key, BlobType::kTree, a.id, ByteView(done.bytes).subspan(a.offset, a.length));
  EXPECT_FALSE(wrong_type.ok());
  // And under the wrong key.
  auto wrong_key =
      OpenBlob(crypto::RandomKey(), a.type, a.id, ByteView(done.bytes).subspan(a.offset, a.length));
  EXPECT_FALSE(wrong_key.ok());
}

TEST(Pack, BlobAadBindsTypeAndId) {
  EXPECT_NE(BlobAad(BlobType::kData, IdOf(1)), BlobAad(BlobType::kTree, IdOf(1)));
  EXPECT_NE(BlobAad(BlobType::kData, IdOf(1)), BlobAad(BlobType::kData, IdOf(2)));
  EXPECT_EQ(BlobAad(BlobType::kData, IdOf(1)), BlobAad(BlobType::kData, IdOf(1)));
}

TEST(Pack, TruncatedPackDetected) {
  const crypto::Key key = crypto::RandomKey();
  std::vector<Blob> blobs = {{BlobType::kData, IdOf(1), Bytes(100, 1)},
                             {BlobType::kTree, IdOf(2), Bytes(50, 2)}};
  auto done = WritePack(key, blobs);
  for (size_t len = 0; len < done.bytes.size(); ++len) {
    auto entries = ReadPackHeader(key, ByteView(done.bytes).first(len));
    EXPECT_FALSE(entries.ok()) << "length " << len;
  }
  // Cut from the front too.
  for (size_t cut = 1; cut < done.bytes.size(); cut += 7) {
    EXPECT_FALSE(ReadPackHeader(key, ByteView(done.bytes).subspan(cut)).ok());
  }
}

TEST(Pack, WrongKeyRejected) {
  auto done = WritePack(crypto::RandomKey(), SampleBlobs());
  auto entries = ReadPackHeader(crypto::RandomKey(), done.bytes);
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.status().code(), ErrorCode::kCorrupt);
}

TEST(Pack, UnknownVersionRefused) {
  const crypto::Key key = crypto::RandomKey();
  auto done = WritePack(key, SampleBlobs());
  for (char digit : {'0', '2', '9'}) {
    Bytes other = done.bytes;
    other[7] = static_cast<uint8_t>(digit);
    auto entries = ReadPackHeader(key, other);
    ASSERT_FALSE(entries.ok());
    EXPECT_EQ(entries.status().code(), ErrorCode::kUnsupportedVersion) << digit;
  }
  Bytes future = {'O', 'B', 'P', 'A', 'C', 'K', '1', '7'};  // even a short one
  EXPECT_EQ(ReadPackHeader(key, future).status().code(), ErrorCode::kUnsupportedVersion);
  Bytes garbage = done.bytes;
  garbage[7] = 'x';
  EXPECT_EQ(ReadPackHeader(key, garbage).status().code(), ErrorCode::kCorrupt);
}

TEST(Pack, CraftedHeaderRoundTrips) {
  const crypto::Key key = crypto::RandomKey();
  BlobEntry a{BlobType::kData, IdOf(1), 8, 40, 12};
  BlobEntry b{BlobType::kTree, IdOf(2), 48, 30, 2};
  auto entries = ReadPackHeader(key, CraftPack(key, 78, {a, b}));
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  EXPECT_EQ(entries->size(), 2u);
}

TEST(Pack, OverlappingEntriesRejected) {
  const crypto::Key key = crypto::RandomKey();
  BlobEntry a{BlobType::kData, IdOf(1), 8, 40, 12};
  BlobEntry b{BlobType::kData, IdOf(2), 47, 30, 2};  // starts inside a
  auto entries = ReadPackHeader(key, CraftPack(key, 100, {b, a}));
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.status().code(), ErrorCode::kCorrupt);
  EXPECT_FALSE(ReadPackHeader(key, CraftPack(key, 100, {a, a})).ok());
}

TEST(Pack, EntriesOutsideBlobAreaRejected) {
  const crypto::Key key = crypto::RandomKey();
  auto expect_corrupt = [&](BlobEntry e) {
    auto entries = ReadPackHeader(key, CraftPack(key, 100, {e}));
    ASSERT_FALSE(entries.ok()) << e.offset << "+" << e.length;
    EXPECT_EQ(entries.status().code(), ErrorCode::kCorrupt);
  };
  expect_corrupt({BlobType::kData, IdOf(1), 0, 40, 1});           // over the magic
  expect_corrupt({BlobType::kData, IdOf(1), 80, 40, 1});          // into the header
  expect_corrupt({BlobType::kData, IdOf(1), 8, 10, 1});           // shorter than a seal
  expect_corrupt({BlobType::kData, IdOf(1), 0xFFFFFFF0, 40, 1});  // wraps around
  expect_corrupt({BlobType::kData, IdOf(1), 8, 0xFFFFFFFF, 1});   // huge
  expect_corrupt({static_cast<BlobType>(3), IdOf(1), 8, 40, 1});  // unknown type
}

TEST(Pack, HeaderLengthOutOfBoundsRejected) {
  const crypto::Key key = crypto::RandomKey();
  auto done = WritePack(key, SampleBlobs());
  const size_t len_pos = done.bytes.size() - 12;
  for (uint32_t bad : {0u, 1u, 27u, 0xFFFFFFFFu, static_cast<uint32_t>(done.bytes.size())}) {
    Bytes tampered = done.bytes;
    for (int i = 0; i < 4; ++i) tampered[len_pos + i] = static_cast<uint8_t>(bad >> (8 * i));
    auto entries = ReadPackHeader(key, tampered);
    ASSERT_FALSE(entries.ok()) << bad;
    EXPECT_EQ(entries.status().code(), ErrorCode::kCorrupt);
  }
}

// The header read from the tail alone (repair's ranged reads) is the header
// ReadPackHeader gives; a damaged tail or header is refused.
TEST(Pack, HeaderFromTailMatchesWholePack) {
  const crypto::Key key = crypto::RandomKey();
  auto done = WritePack(key, SampleBlobs());
  const Bytes& pack = done.bytes;
  ByteView tail = ByteView(pack).last(kPackTailSize);
  auto len = PackHeaderLength(tail, pack.size());
  ASSERT_TRUE(len.ok()) << len.status().ToString();
  const size_t start = pack.size() - kPackTailSize - *len;
  EXPECT_EQ(start, HeaderStart(pack));
  auto entries = OpenSealedHeader(key, ByteView(pack).subspan(start, *len), start);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  auto whole = ReadPackHeader(key, pack);
  ASSERT_TRUE(whole.ok());
  ASSERT_EQ(entries->size(), whole->size());
  for (size_t i = 0; i < whole->size(); ++i) {
    EXPECT_EQ((*entries)[i].id, (*whole)[i].id);
    EXPECT_EQ((*entries)[i].offset, (*whole)[i].offset);
  }
  // A trailer that is not one, a length past the pack, another key.
  Bytes bad_tail(tail.begin(), tail.end());
  bad_tail.back() ^= 1;
  EXPECT_EQ(PackHeaderLength(bad_tail, pack.size()).status().code(), ErrorCode::kCorrupt);
  Bytes long_tail(tail.begin(), tail.end());
  long_tail[3] = 0x7f;
  EXPECT_EQ(PackHeaderLength(long_tail, pack.size()).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(PackHeaderLength(tail, 10).status().code(), ErrorCode::kCorrupt);
  EXPECT_FALSE(
      OpenSealedHeader(crypto::RandomKey(), ByteView(pack).subspan(start, *len), start).ok());
  // Entries must lie before the header: a header claimed to start earlier
  // than its blobs end is refused.
  EXPECT_FALSE(OpenSealedHeader(key, ByteView(pack).subspan(start, *len), 16).ok());
}

}  // namespace
}  // namespace obagent::pack
