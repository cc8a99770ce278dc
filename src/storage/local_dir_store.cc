// A BlobStore on a local or mounted folder, through platform::Env only.
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "obagent/core/crypto.h"
#include "obagent/core/idle_pool.h"
#include "obagent/platform.h"
#include "obagent/storage/blob_store.h"

namespace obagent::storage {
namespace {

// Env::WriteFileAtomic writes "<kTempPrefix>…" files beside the destination
// and renames them into place; one left by a crashed writer is never an
// object. No key component may start with it, so no object is ever hidden.
constexpr std::string_view kTempPrefix = ".tmp-";

bool IsTempName(std::string_view name) { return name.starts_with(kTempPrefix); }

// A read buffer of GetTo, not zeroed: reading fills what is sent.
struct Piece {
  std::unique_ptr<uint8_t[]> data{new uint8_t[kStreamPieceBytes]};
};

// Idle pieces kept for the next GetTo (vaultd serves ranged reads from a
// thread per connection): a fresh piece costs a mapping, page faults on
// every page and an unmapping per request.
constexpr size_t kIdlePieces = 4;

Status InvalidKey(std::string_view key) {
  return InvalidArgument("invalid object key '" + std::string(key) + "'");
}

class LocalDirStore final : public BlobStore {
 public:
  LocalDirStore(std::string root, platform::Env& env) : root_(std::move(root)), env_(env) {}

  Status Put(std::string_view key, ByteView data) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return Store(key,
                 [&](const std::string& path) { return env_.WriteFileAtomic(path, data, false); });
  }

  Status PutFrom(std::string_view key, ByteSource& source) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return Store(key, [&](const std::string& path) { return WriteFrom(path, source); });
  }

  // The body goes to a temporary file beside the object (complete and
  // fsynced), which is then linked into place only if the name is free:
  // the file system decides, so of concurrent writers one wins and the
  // others get kAlreadyExists, whatever their timing.
  Status PutNewFrom(std::string_view key, ByteSource& source) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string path = PathOf(key);
    std::string temp = path.substr(0, path.rfind('/') + 1) + std::string(kTempPrefix) + "new-" +
                       ToHex(crypto::RandomBytes(8));
    // Refused early when the object is there already (nothing is written);
    // the link below is what decides a race.
    auto info = env_.Lstat(path);
    if (info.ok()) {
      return Status(ErrorCode::kAlreadyExists, "storing " + std::string(key) + ": it exists");
    }
    OB_RETURN_IF_ERROR(Store(key, [&](const std::string&) { return WriteFrom(temp, source); }));
    Status st = env_.MoveFileNoReplace(temp, path);
    if (!st.ok()) {
      (void)env_.RemoveFile(temp);
      if (st.code() == ErrorCode::kAlreadyExists) {
        return Status(ErrorCode::kAlreadyExists, "storing " + std::string(key) + ": it exists");
      }
      return st.WithContext("storing " + std::string(key));
    }
    return Status::Ok();
  }

  // Env writes a temporary file piece by piece, fsyncs and renames it to
  // `path`.
  Status WriteFrom(const std::string& path, ByteSource& source) {
    bool started = false;
    Status source_error;
    auto read = [&](uint8_t* buffer, size_t n) -> Result<size_t> {
      started = true;
      Result<size_t> got = source.Read(buffer, n);
      if (!got.ok()) source_error = got.status();
      return got;
    };
    Status st = env_.WriteFileAtomicFrom(path, read, false);
    // A missing folder is found before the source is read (so retrying
    // after creating it loses nothing); a source's own kNotFound is not
    // a missing folder.
    if (!source_error.ok()) return source_error;
    if (st.code() == ErrorCode::kNotFound && started) return IoError(st.detail());
    return st;
  }

  Result<ObjectInfo> Stat(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    auto info = env_.Lstat(PathOf(key));
    if (!info.ok()) return info.status().WithContext("checking " + std::string(key));
    if (info->kind != platform::FileKind::kRegular) {
      return NotFound("checking " + std::string(key) + ": not an object");
    }
    return ObjectInfo{info->size};
  }

  Status GetTo(std::string_view key, uint64_t offset, uint64_t length, ByteSink& sink) override {
    OB_ASSIGN_OR_RETURN(OpenedRange range, OpenRange(key, offset, length, /*to_end=*/true));
    auto piece = pieces_.Acquire();
    uint64_t done = 0;
    while (done < range.length) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(range.length - done, kStreamPieceBytes));
      auto got = range.file->ReadAt(offset + done, piece->data.get(), want);
      if (!got.ok()) return got.status().WithContext("reading " + std::string(key));
      if (*got == 0) return EndedAfter(key, offset + done);
      OB_RETURN_IF_ERROR(sink.Write(ByteView(piece->data.get(), *got)));
      done += *got;
    }
    return Status::Ok();
  }

  // The staged file is moved into place when it is on the vault's volume:
  // it is already complete and fsynced, so the rename (and the folder's
  // fsync) makes it a whole object as atomically as Put does.
  Status PutStaged(std::string_view key, const std::string& staged_path, ByteView data) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string path = PathOf(key);
    Status st = env_.MoveFileReplacing(staged_path, path);
    if (st.code() == ErrorCode::kNotFound && env_.Exists(staged_path)) {
      // The object's folder does not exist yet.
      OB_RETURN_IF_ERROR(env_.CreateDirs(path.substr(0, path.rfind('/')), false)
                             .WithContext("storing " + std::string(key)));
      st = env_.MoveFileReplacing(staged_path, path);
    }
    if (st.code() == ErrorCode::kUnsupported) return Put(key, data);  // another volume
    if (!st.ok()) return st.WithContext("storing " + std::string(key));
    return Status::Ok();
  }

  Result<Bytes> Get(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    Result<Bytes> data = env_.ReadFile(PathOf(key));
    if (!data.ok()) return data.status().WithContext("reading " + std::string(key));
    return data;
  }

  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    Bytes out;
    OB_RETURN_IF_ERROR(GetRangeInto(key, offset, length, out).status());
    return out;
  }

  Result<ByteView> GetRangeInto(std::string_view key, uint64_t offset, uint64_t length,
                                Bytes& buffer) override {
    OB_ASSIGN_OR_RETURN(OpenedRange range, OpenRange(key, offset, length, /*to_end=*/false));
    const size_t n = static_cast<size_t>(range.length);
    if (buffer.size() < n) buffer.resize(n);
    auto got = range.file->ReadAt(offset, buffer.data(), n);
    if (!got.ok()) return got.status().WithContext("reading " + std::string(key));
    if (*got != n) return EndedAfter(key, offset + *got);
    return ByteView(buffer).first(n);
  }

  Result<std::vector<std::string>> List(std::string_view prefix) override {
    // Walk from the deepest folder the prefix names completely; below it,
    // only entries that start with the rest of the prefix can match.
    size_t slash = prefix.rfind('/');
    std::string dir_part =
        slash == std::string_view::npos ? std::string() : std::string(prefix.substr(0, slash + 1));
    std::string rest(prefix.substr(dir_part.size()));
    std::vector<std::string> keys;
    if (!dir_part.empty()) {
      // The folder part must itself be a valid key path, else nothing matches.
      if (!IsValidKey(dir_part.substr(0, dir_part.size() - 1))) return keys;
    }
    std::string dir_path = dir_part.empty() ? root_ : PathOf(dir_part);
    auto entries = env_.ListDir(dir_path);
    if (!entries.ok()) {
      if (entries.status().code() == ErrorCode::kNotFound) return keys;
      return entries.status().WithContext("listing " + std::string(prefix));
    }
    for (const platform::DirEntry& entry : *entries) {
      if (!entry.name.starts_with(rest) || IsTempName(entry.name)) continue;
      OB_RETURN_IF_ERROR(Collect(dir_part + entry.name, entry.kind, &keys));
    }
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  Status Delete(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    Status st = env_.RemoveFile(PathOf(key));
    if (st.ok() || st.code() == ErrorCode::kNotFound) return Status::Ok();
    return st.WithContext("deleting " + std::string(key));
  }

  Result<bool> Exists(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    auto info = env_.Lstat(PathOf(key));
    if (info.ok()) return info->kind == platform::FileKind::kRegular;
    if (info.status().code() == ErrorCode::kNotFound) return false;
    return info.status().WithContext("checking " + std::string(key));
  }

  std::string Describe() const override { return root_; }

 private:
  // The object `key` opened to read `length` bytes from `offset`; with
  // `to_end`, a length of kToEnd reads all there are. A range beyond the
  // object's end is damage (kCorrupt).
  struct OpenedRange {
    std::unique_ptr<platform::ReadableFile> file;
    uint64_t length = 0;
  };
  Result<OpenedRange> OpenRange(std::string_view key, uint64_t offset, uint64_t length,
                                bool to_end) {
    if (!IsValidKey(key)) return InvalidKey(key);
    auto context = [&] { return "reading " + std::string(key); };
    auto file = env_.OpenForRead(PathOf(key));
    if (!file.ok()) return file.status().WithContext(context());
    auto info = (*file)->Stat();
    if (!info.ok()) return info.status().WithContext(context());
    const bool whole_rest = to_end && length == kToEnd;
    if (whole_rest && offset <= info->size) length = info->size - offset;
    if (offset > info->size || length > info->size - offset) {
      return Corrupt(context() + ": range " + std::to_string(offset) + "+" +
                     std::to_string(whole_rest ? 0 : length) + " is beyond the object's " +
                     std::to_string(info->size) + " bytes");
    }
    return OpenedRange{std::move(*file), length};
  }

  // An object shorter than it said it was when it was opened.
  static Status EndedAfter(std::string_view key, uint64_t bytes) {
    return Corrupt("reading " + std::string(key) + ": object ended after " + std::to_string(bytes) +
                   " bytes");
  }

  // Runs `write` on the object's path, creating its folder when missing.
  template <typename Write>
  Status Store(std::string_view key, Write&& write) {
    std::string path = PathOf(key);
    Status st = write(path);
    if (st.code() == ErrorCode::kNotFound) {
      // The object's folder does not exist yet.
      OB_RETURN_IF_ERROR(env_.CreateDirs(path.substr(0, path.rfind('/')), false)
                             .WithContext("storing " + std::string(key)));
      st = write(path);
    }
    if (!st.ok()) return st.WithContext("storing " + std::string(key));
    return Status::Ok();
  }

  std::string PathOf(std::string_view key) const {
    return root_.back() == '/' ? root_ + std::string(key) : root_ + "/" + std::string(key);
  }

  // Adds `key` if it is an object, or every object below it if a folder.
  Status Collect(const std::string& key, platform::FileKind kind, std::vector<std::string>* out) {
    if (kind == platform::FileKind::kRegular) {
      out->push_back(key);
      return Status::Ok();
    }
    if (kind != platform::FileKind::kDirectory) return Status::Ok();
    auto entries = env_.ListDir(PathOf(key));
    if (!entries.ok()) {
      if (entries.status().code() == ErrorCode::kNotFound) return Status::Ok();
      return entries.status().WithContext("listing " + key);
    }
    for (const platform::DirEntry& entry : *entries) {
      if (IsTempName(entry.name)) continue;
      OB_RETURN_IF_ERROR(Collect(key + "/" + entry.name, entry.kind, out));
    }
    return Status::Ok();
  }

  const std::string root_;
  platform::Env& env_;
  IdlePool<Piece> pieces_{kIdlePieces};
};

}  // namespace

bool IsValidKey(std::string_view key) {
  if (key.empty() || key.front() == '/') return false;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view part = key.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (IsTempName(part)) return false;
    // NUL ends a C path; a backslash is a separator on Windows.
    if (part.find('\0') != std::string_view::npos || part.find('\\') != std::string_view::npos) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

Result<std::unique_ptr<BlobStore>> OpenLocalDirStore(const std::string& root) {
  if (root.empty()) return InvalidArgument("empty vault folder path");
  std::string clean = root;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  platform::Env& env = platform::Env::Default();
  // The folder must exist: an unmounted vault volume must fail, not fill an
  // empty mount point.
  Result<platform::FileInfo> info = env.Lstat(clean);
  if (!info.ok()) return info.status().WithContext("opening vault folder");
  if (info->kind != platform::FileKind::kDirectory) {
    return InvalidArgument("vault path " + clean + " is not a folder");
  }
  return std::unique_ptr<BlobStore>(std::make_unique<LocalDirStore>(clean, env));
}

}  // namespace obagent::storage
