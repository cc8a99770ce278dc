// Reading a whole ByteSource into memory (private to src/storage): what the
// stores that keep whole objects (MemoryStore, BlobStore's default PutFrom)
// store.
#pragma once

#include "obagent/storage/blob_store.h"

namespace obagent::storage {

// Everything `source` gives, read in kStreamPieceBytes pieces.
Result<Bytes> ReadAll(ByteSource& source);

}  // namespace obagent::storage
