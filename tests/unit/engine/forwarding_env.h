// An Env that forwards every call to another one; tests derive from it and
// override the calls they want to disturb (fail, or make a file vanish).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "obagent/platform.h"

namespace obagent::testing {

class ForwardingEnv : public platform::Env {
 public:
  explicit ForwardingEnv(platform::Env& base) : base_(base) {}

  Result<platform::FileInfo> Lstat(const std::string& p) override { return base_.Lstat(p); }
  Result<std::vector<platform::DirEntry>> ListDir(const std::string& p) override {
    return base_.ListDir(p);
  }
  Result<std::unique_ptr<platform::ReadableFile>> OpenForRead(const std::string& p) override {
    return base_.OpenForRead(p);
  }
  Result<std::string> ReadLink(const std::string& p) override { return base_.ReadLink(p); }
  Result<platform::FileMetadata> ReadMetadata(const std::string& p,
                                              const platform::FileInfo& info) override {
    return base_.ReadMetadata(p, info);
  }
  Result<std::unique_ptr<platform::ReadableFile>> OpenStreamForRead(
      const std::string& p, const std::string& stream) override {
    return base_.OpenStreamForRead(p, stream);
  }
  Result<platform::DiskSpace> GetDiskSpace(const std::string& p) override {
    return base_.GetDiskSpace(p);
  }
  Result<platform::ScratchAttributes> ScratchFolderProblems(const std::string& p) override {
    return base_.ScratchFolderProblems(p);
  }
  Result<Bytes> ReadFile(const std::string& p) override { return base_.ReadFile(p); }
  Status WriteFileAtomic(const std::string& p, ByteView d, bool owner_only) override {
    return base_.WriteFileAtomic(p, d, owner_only);
  }
  Status WriteFileAtomicFrom(const std::string& p, const ContentReader& read,
                             bool owner_only) override {
    return base_.WriteFileAtomicFrom(p, read, owner_only);
  }
  Status CreateDirs(const std::string& p, bool owner_only) override {
    return base_.CreateDirs(p, owner_only);
  }
  Status RemoveFile(const std::string& p) override { return base_.RemoveFile(p); }
  Status MoveFileReplacing(const std::string& from, const std::string& to) override {
    return base_.MoveFileReplacing(from, to);
  }
  Status MoveFileNoReplace(const std::string& from, const std::string& to) override {
    return base_.MoveFileNoReplace(from, to);
  }
  Status RemoveAll(const std::string& p) override { return base_.RemoveAll(p); }
  bool Exists(const std::string& p) override { return base_.Exists(p); }
  std::string Hostname() override { return base_.Hostname(); }
  Result<std::string> AbsolutePath(const std::string& p) override { return base_.AbsolutePath(p); }
  Result<std::unique_ptr<platform::RestoreDir>> OpenRestoreRoot(const std::string& p,
                                                                bool create) override {
    return base_.OpenRestoreRoot(p, create);
  }
  std::string DefaultStateDir() override { return base_.DefaultStateDir(); }
  std::vector<std::string> FileSystemRoots() override { return base_.FileSystemRoots(); }
  bool IsTerminal(int fd) override { return base_.IsTerminal(fd); }
  void PreferReturningLargeBuffers() override { base_.PreferReturningLargeBuffers(); }
  Result<std::unique_ptr<platform::FileLock>> TryLockFile(const std::string& p) override {
    return base_.TryLockFile(p);
  }
  int64_t ProcessId() override { return base_.ProcessId(); }
  Result<int> RunProgram(const std::string& path, const std::vector<std::string>& args,
                         const std::vector<std::string>& extra_env) override {
    return base_.RunProgram(path, args, extra_env);
  }
  bool OnlyThisAccountCanChange(const std::string& path) override {
    return base_.OnlyThisAccountCanChange(path);
  }
  bool ProcessAlive(int64_t pid) override { return base_.ProcessAlive(pid); }
  std::string ExecutablePath() override { return base_.ExecutablePath(); }
  std::string LocalApiAddress(const std::string& state_dir) override {
    return base_.LocalApiAddress(state_dir);
  }
  Result<std::unique_ptr<platform::LocalListener>> ListenLocal(const std::string& a) override {
    return base_.ListenLocal(a);
  }
  Result<std::unique_ptr<platform::LocalConnection>> ConnectLocal(const std::string& a) override {
    return base_.ConnectLocal(a);
  }
  Result<std::string> RegisterBackupSchedule(const platform::OsScheduleDefinition& d) override {
    return base_.RegisterBackupSchedule(d);
  }
  Status UnregisterBackupSchedule(const platform::OsScheduleDefinition& d) override {
    return base_.UnregisterBackupSchedule(d);
  }
  int RunService(const std::string& name, bool service_manager,
                 const std::function<int(platform::ServiceContext&)>& body) override {
    return base_.RunService(name, service_manager, body);
  }

 protected:
  platform::Env& base_;
};

}  // namespace obagent::testing
