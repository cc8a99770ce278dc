// A RestoreDir that forwards every call to another one; tests derive from it
// and override the calls they want to watch or disturb. Subfolders are
// wrapped by WrapSubdir (default: returned as the inner folder gives them).
#pragma once

#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "obagent/platform.h"

namespace obagent::testing {

class ForwardingRestoreDir : public platform::RestoreDir {
 public:
  explicit ForwardingRestoreDir(std::unique_ptr<platform::RestoreDir> inner)
      : inner_(std::move(inner)) {}

  Result<platform::FileKind> Probe(std::string_view n) override { return inner_->Probe(n); }
  Result<std::unique_ptr<platform::RestoreDir>> OpenOrCreateSubdir(std::string_view n) override {
    OB_ASSIGN_OR_RETURN(auto sub, inner_->OpenOrCreateSubdir(n));
    return WrapSubdir(std::move(sub), n);
  }
  Result<std::unique_ptr<platform::WritableFile>> CreateFile(std::string_view n,
                                                             bool replace) override {
    return inner_->CreateFile(n, replace);
  }
  Result<std::unique_ptr<platform::WritableFile>> OpenForWrite(std::string_view n) override {
    return inner_->OpenForWrite(n);
  }
  Result<std::unique_ptr<platform::ReadableFile>> OpenForRead(std::string_view n) override {
    return inner_->OpenForRead(n);
  }
  Result<std::vector<platform::DirEntry>> List() override { return inner_->List(); }
  Status CreateSymlink(std::string_view n, std::string_view t, bool replace) override {
    return inner_->CreateSymlink(n, t, replace);
  }
  Status CreateHardLink(std::string_view n, platform::RestoreDir& existing_dir,
                        std::string_view existing_name, bool replace) override {
    auto* other = dynamic_cast<ForwardingRestoreDir*>(&existing_dir);
    return inner_->CreateHardLink(n, other != nullptr ? *other->inner_ : existing_dir,
                                  existing_name, replace);
  }
  Status Remove(std::string_view n) override { return inner_->Remove(n); }
  Status Rename(std::string_view from, std::string_view to) override {
    return inner_->Rename(from, to);
  }
  Status SetAttributes(std::string_view n, uint32_t mode, int64_t mtime_ns, uint32_t uid,
                       uint32_t gid, bool is_symlink) override {
    return inner_->SetAttributes(n, mode, mtime_ns, uid, gid, is_symlink);
  }
  Status SetOwnAttributes(uint32_t mode, int64_t mtime_ns, uint32_t uid, uint32_t gid) override {
    return inner_->SetOwnAttributes(mode, mtime_ns, uid, gid);
  }
  std::vector<platform::MetadataIssue> ApplyMetadata(std::string_view n,
                                                     const platform::FileMetadata& md,
                                                     bool is_symlink, bool permissions) override {
    return inner_->ApplyMetadata(n, md, is_symlink, permissions);
  }
  std::vector<platform::MetadataIssue> ApplyOwnMetadata(const platform::FileMetadata& md,
                                                        bool permissions) override {
    return inner_->ApplyOwnMetadata(md, permissions);
  }
  Result<std::unique_ptr<platform::WritableFile>> CreateStream(std::string_view n,
                                                               std::string_view s) override {
    return inner_->CreateStream(n, s);
  }
  Result<platform::LinkPlan> CreateReparsePoint(std::string_view n, std::string_view t,
                                                const platform::ReparseInfo& recorded,
                                                bool replace) override {
    return inner_->CreateReparsePoint(n, t, recorded, replace);
  }
  Result<std::unique_ptr<platform::WritableFile>> OpenStreamForWrite(std::string_view n,
                                                                     std::string_view s) override {
    return inner_->OpenStreamForWrite(n, s);
  }
  Status ClearProtectionFlags(std::string_view n) override {
    return inner_->ClearProtectionFlags(n);
  }
  Status SyncFileSystem() override { return inner_->SyncFileSystem(); }

 protected:
  // The subfolder `name` of this folder, as opened by the inner one.
  virtual std::unique_ptr<platform::RestoreDir> WrapSubdir(
      std::unique_ptr<platform::RestoreDir> sub, std::string_view name) {
    (void)name;
    return sub;
  }

  std::unique_ptr<platform::RestoreDir> inner_;
};

}  // namespace obagent::testing
