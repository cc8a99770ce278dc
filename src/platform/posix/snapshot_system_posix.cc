// The real SnapshotSystem for Linux and SnapshotProvider::Default().
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "platform/posix/posix_util.h"
#include "platform/posix/snapshot_posix.h"

namespace obagent::platform {
namespace posix {
namespace {

// Where system programs are looked for. Never $PATH: the agent runs as root
// and must not run whatever a writable folder early in $PATH provides.
constexpr const char* kProgramDirs[] = {"/usr/sbin", "/usr/bin", "/sbin", "/bin"};

class RealSnapshotSystem final : public SnapshotSystem {
 public:
  Result<PathInfo> Probe(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
    // statfs follows a final symlink; the folder holding it is on the same
    // file system as the link itself.
    std::string fs_path = path;
    if (S_ISLNK(st.st_mode)) {
      size_t slash = path.rfind('/');
      fs_path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
    }
    struct statfs fs;
    if (::statfs(fs_path.c_str(), &fs) != 0) return ErrnoStatus("statfs", fs_path, errno);
    PathInfo info;
    info.fs_type = static_cast<uint64_t>(fs.f_type);
    info.device = st.st_dev;
    return info;
  }

  Result<std::string> ReadMountInfo() override {
    int fd = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", "/proc/self/mountinfo", errno);
    std::string text;
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        CloseFd(fd);
        return ErrnoStatus("read", "/proc/self/mountinfo", err);
      }
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    CloseFd(fd);
    return text;
  }

  Result<CommandResult> Run(const std::string& program,
                            const std::vector<std::string>& args) override {
    std::string path;
    for (const char* dir : kProgramDirs) {
      std::string candidate = std::string(dir) + "/" + program;
      if (::access(candidate.c_str(), X_OK) == 0) {
        path = candidate;
        break;
      }
    }
    if (path.empty()) return NotFound("'" + program + "' is not installed");
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe", program, errno);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
    // LC_ALL=C: the output parsed here (lvs's numbers, messages) is in the C
    // locale's words and number format. lvm warns about every inherited
    // descriptor; they are not its business.
    Result<pid_t> pid =
        SpawnProgram(path, args, {"LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1"}, &actions);
    posix_spawn_file_actions_destroy(&actions);
    CloseFd(pipe_fds[1]);
    if (!pid.ok()) {
      CloseFd(pipe_fds[0]);
      return pid.status();
    }
    CommandResult result;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      // Enough for any message; a runaway program cannot fill memory.
      if (result.output.size() < (1u << 20)) result.output.append(buf, static_cast<size_t>(n));
    }
    CloseFd(pipe_fds[0]);
    OB_ASSIGN_OR_RETURN(result.exit_code, WaitForExit(*pid, path));
    return result;
  }

  Status MakeDirs(const std::string& path) override {
    return Env::Default().CreateDirs(path, /*owner_only=*/true);
  }

  Status RemoveDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("remove", path, errno);
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<SnapshotSystem> NewSnapshotSystem() {
  return std::make_unique<RealSnapshotSystem>();
}

}  // namespace posix

SnapshotProvider& SnapshotProvider::Default() {
  // Both stateless between jobs: safe to use until exit.
  static std::unique_ptr<posix::SnapshotSystem> system = posix::NewSnapshotSystem();
  static std::unique_ptr<SnapshotProvider> provider = posix::NewPosixSnapshotProvider(*system);
  return *provider;
}

}  // namespace obagent::platform
