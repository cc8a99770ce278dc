// Pack files: immutable containers of sealed blobs, named by the SHA-256 of
// their bytes. Layout (version 1, all integers little-endian):
//   "OBPACK01"                      8-byte magic with the format version
//   blob 0 .. blob n-1              each Seal(dataKey, BlobAad(type, id), payload)
//   header                          Seal(dataKey, "obagent-pack-header-v1", entries)
//   u32 header length
//   "OBPKEND1"                      8-byte trailer
// entries: u32 count, then per blob: u8 type, 32-byte id, u32 offset,
// u32 sealed length, u32 raw (plaintext) length.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/core/crypto.h"
#include "obagent/status.h"

namespace obagent::pack {

enum class BlobType : uint8_t { kData = 1, kTree = 2 };

struct BlobEntry {
  BlobType type = BlobType::kData;
  ObjectId id;
  uint32_t offset = 0;      // of the sealed blob in the pack
  uint32_t length = 0;      // sealed length
  uint32_t raw_length = 0;  // plaintext length
};

// Associated data binding a sealed blob to its type and id: a blob moved to
// another id or type fails to open.
Bytes BlobAad(BlobType type, const ObjectId& id);

// Seals an encoded payload (compress::EncodePayload output) for a pack.
Bytes SealBlob(const crypto::Key& data_key, BlobType type, const ObjectId& id, ByteView payload);
// Opens a sealed blob; kCorrupt when it was altered or belongs to another id.
Result<Bytes> OpenBlob(const crypto::Key& data_key, BlobType type, const ObjectId& id,
                       ByteView sealed);
// OpenBlob into a reused buffer (crypto::OpenInto): the payload is the
// returned view of `buffer`'s first bytes.
Result<ByteView> OpenBlobInto(const crypto::Key& data_key, BlobType type, const ObjectId& id,
                              ByteView sealed, Bytes& buffer);

class PackWriter {
 public:
  // size_hint: the pack size at which the caller finishes packs plus one
  // blob; the buffer is reserved once instead of growing by doubling.
  explicit PackWriter(const crypto::Key& data_key, size_t size_hint = 0);
  // Appends an already sealed blob.
  void Add(BlobType type, const ObjectId& id, ByteView sealed, uint32_t raw_length);
  // Seals an encoded payload (as SealBlob does) straight into the pack,
  // without an intermediate buffer.
  void AddPayload(BlobType type, const ObjectId& id, ByteView payload, uint32_t raw_length);
  size_t size() const { return bytes_.size(); }
  size_t blob_count() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  struct Finished {
    std::string name;  // hex SHA-256 of bytes
    Bytes bytes;
    std::vector<BlobEntry> entries;
  };
  // Writes header and trailer; the writer is empty afterwards and reusable.
  Finished Finish();
  // Finish() without naming the pack (name stays empty): the SHA-256 of a
  // full pack is the slow part, and a caller that holds a lock around the
  // writer names the pack with PackName() after releasing it.
  Finished FinishUnnamed();
  // Hands back the bytes of a Finished pack that is no longer needed: the
  // next pack is written into them instead of a new allocation (up to
  // kMaxSpares buffers are kept, one for each pack that can be uploading or
  // waiting to; others are freed).
  void Recycle(Bytes buffer);

 private:
  void Reset();

  crypto::Key data_key_;
  size_t size_hint_;
  Bytes bytes_;
  static constexpr size_t kMaxSpares = 2;
  std::vector<Bytes> spares_;
  std::vector<BlobEntry> entries_;
};

// The name of a pack: hex SHA-256 of its bytes.
std::string PackName(ByteView bytes);

// Parses and authenticates the header of a whole pack. kCorrupt on any
// mismatch, kUnsupportedVersion for an unknown magic version.
Result<std::vector<BlobEntry>> ReadPackHeader(const crypto::Key& data_key, ByteView pack);

// The header read with ranged requests instead of the whole pack (repair):
// the last kPackTailSize bytes give the sealed header's length, the bytes
// before them the sealed header, which OpenSealedHeader authenticates and
// parses (header_start = pack size - kPackTailSize - header length). The
// blobs themselves are not read, so their integrity is not checked.
constexpr size_t kPackTailSize = 12;
Result<uint32_t> PackHeaderLength(ByteView tail, uint64_t pack_size);
Result<std::vector<BlobEntry>> OpenSealedHeader(const crypto::Key& data_key, ByteView sealed_header,
                                                uint64_t header_start);

}  // namespace obagent::pack
