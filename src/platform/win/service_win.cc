// The engine's local API transport (a named pipe that only SYSTEM,
// Administrators and the service's own account may open), the service host
// (SCM or a console) and the backup schedule as a Task Scheduler 2.0 task.
// Semantics match service_posix.cc.
#include <windows.h>
// After windows.h:
#include <sddl.h>
#include <taskschd.h>
#include <tlhelp32.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "platform/line_buffer.h"
#include "win_util.h"

namespace obagent::platform::win {
namespace {

constexpr DWORD kPipeBuffer = 64 * 1024;

// Waits for an overlapped call on `h` or for `cancel`; on cancel the call
// is cancelled and false returned. `*got` is the transferred byte count.
Result<bool> FinishOverlapped(HANDLE h, OVERLAPPED* ov, HANDLE cancel, DWORD* got,
                              std::string_view op) {
  HANDLE events[2] = {ov->hEvent, cancel};
  DWORD which = WaitForMultipleObjects(2, events, FALSE, INFINITE);
  if (which != WAIT_OBJECT_0) {
    CancelIoEx(h, ov);
    GetOverlappedResult(h, ov, got, TRUE);  // the call must end before ov dies
    return false;
  }
  if (!GetOverlappedResult(h, ov, got, FALSE)) {
    return WinErrorStatus(op, "local API pipe", GetLastError());
  }
  return true;
}

class Event {
 public:
  Event() : h_(CreateEventW(nullptr, TRUE, FALSE, nullptr)) {}
  HANDLE get() const { return h_.get(); }

 private:
  UniqueHandle h_;
};

class PipeConnection final : public LocalConnection {
 public:
  explicit PipeConnection(UniqueHandle h) : h_(std::move(h)) {}

  Result<std::string> ReadLine() override {
    return lines_.ReadLine([this](std::span<char> into) -> Result<size_t> {
      Event done;
      OVERLAPPED ov{};
      ov.hEvent = done.get();
      DWORD got = 0;
      DWORD want = static_cast<DWORD>(into.size());
      if (!::ReadFile(h_.get(), into.data(), want, &got, &ov)) {
        DWORD err = GetLastError();
        if (IsEndOfStream(err)) return EndOfStream();
        if (err != ERROR_IO_PENDING && err != ERROR_MORE_DATA) {
          return WinErrorStatus("read", "local API pipe", err);
        }
        auto finished = FinishOverlapped(h_.get(), &ov, shutdown_.get(), &got, "read");
        if (!finished.ok()) {
          if (IsEndOfStream(GetLastError())) return EndOfStream();
          return finished.status();
        }
        if (!*finished) return EndOfStream();
      }
      return size_t{got};  // 0 for a zero-length message: nothing to add
    });
  }

  Status WriteLine(std::string_view line) override {
    std::string data(line);
    data += '\n';
    size_t done_bytes = 0;
    while (done_bytes < data.size()) {
      Event done;
      OVERLAPPED ov{};
      ov.hEvent = done.get();
      DWORD wrote = 0;
      DWORD want = static_cast<DWORD>(std::min<size_t>(data.size() - done_bytes, 1u << 30));
      if (!WriteFile(h_.get(), data.data() + done_bytes, want, &wrote, &ov)) {
        DWORD err = GetLastError();
        if (err != ERROR_IO_PENDING) return WinErrorStatus("write", "local API pipe", err);
        OB_ASSIGN_OR_RETURN(bool finished,
                            FinishOverlapped(h_.get(), &ov, shutdown_.get(), &wrote, "write"));
        if (!finished) return Status(ErrorCode::kCancelled, "local API connection shut down");
      }
      done_bytes += wrote;
    }
    return Status::Ok();
  }

  void Shutdown() override { SetEvent(shutdown_.get()); }

 private:
  static bool IsEndOfStream(DWORD err) {
    return err == ERROR_BROKEN_PIPE || err == ERROR_PIPE_NOT_CONNECTED || err == ERROR_NO_DATA;
  }
  static Status EndOfStream() {
    return NotFound("local API: the other side closed the connection");
  }

  UniqueHandle h_;
  Event shutdown_;
  LineBuffer lines_;
};

std::wstring PipeSddl() {
  // SYSTEM, Administrators and this process's user (the account the
  // engine runs as: SYSTEM for the service), like the POSIX socket's 0600
  // plus root. Remote clients are refused by PIPE_REJECT_REMOTE_CLIENTS.
  std::wstring sddl = L"D:P(A;;GA;;;SY)(A;;GA;;;BA)";
  std::string user = CurrentUserSid();
  if (!user.empty()) sddl += L"(A;;GA;;;" + Widen(user) + L")";
  return sddl;
}

Result<UniqueHandle> CreatePipeInstance(const std::string& address, bool first) {
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(PipeSddl().c_str(), SDDL_REVISION_1,
                                                            &sd, nullptr)) {
    return LastErrorStatus("build security descriptor for", address);
  }
  SECURITY_ATTRIBUTES sa{sizeof sa, sd, FALSE};
  DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
  if (first) open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
  HANDLE h =
      CreateNamedPipeW(Widen(address).c_str(), open_mode,
                       PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                       PIPE_UNLIMITED_INSTANCES, kPipeBuffer, kPipeBuffer, 0, &sa);
  DWORD err = GetLastError();
  LocalFree(sd);
  if (h == INVALID_HANDLE_VALUE) {
    // FIRST_PIPE_INSTANCE fails with access denied when the name exists.
    if (first && (err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY)) {
      return Status(ErrorCode::kAlreadyExists,
                    "another engine is already running for this state folder (" + address + ")");
    }
    return WinErrorStatus("create named pipe", address, err);
  }
  return UniqueHandle(h);
}

// Whether the connected client is SYSTEM, an (elevated) administrator or
// this process's own user — the pipe's token, never the client's word.
bool ClientAllowed(HANDLE pipe) {
  if (!ImpersonateNamedPipeClient(pipe)) return false;
  HANDLE token = nullptr;
  BOOL opened = OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &token);
  RevertToSelf();
  if (!opened) return false;
  UniqueHandle guard(token);
  BYTE admins_sid[SECURITY_MAX_SID_SIZE];
  DWORD size = sizeof admins_sid;
  BOOL is_admin = FALSE;
  if (CreateWellKnownSid(WinBuiltinAdministratorsSid, nullptr, admins_sid, &size) &&
      CheckTokenMembership(token, admins_sid, &is_admin) && is_admin) {
    return true;
  }
  DWORD needed = 0;
  GetTokenInformation(token, TokenUser, nullptr, 0, &needed);
  std::string buf(needed, '\0');
  if (needed == 0 || !GetTokenInformation(token, TokenUser, buf.data(), needed, &needed)) {
    return false;
  }
  PSID client = reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid;
  wchar_t* text = nullptr;
  if (!ConvertSidToStringSidW(client, &text)) return false;
  std::string client_sid = Narrow(text);
  LocalFree(text);
  return client_sid == "S-1-5-18" || client_sid == CurrentUserSid();
}

class PipeListener final : public LocalListener {
 public:
  PipeListener(UniqueHandle instance, std::string address)
      : instance_(std::move(instance)), address_(std::move(address)) {}
  ~PipeListener() override { Close(); }

  Result<std::unique_ptr<LocalConnection>> Accept() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return Cancelled();
      accepting_ = true;
    }
    auto result = AcceptLoop();
    std::lock_guard<std::mutex> lock(mu_);
    accepting_ = false;
    if (closed_) instance_.reset();  // Close() left it to us
    return result;
  }

  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    SetEvent(close_.get());
    // Without a listening instance the name is gone: new clients get
    // kNotFound instead of waiting for an engine that no longer accepts.
    if (!accepting_) instance_.reset();
  }

  uint64_t refused() const override { return refused_; }

 private:
  static Status Cancelled() { return Status(ErrorCode::kCancelled, "local API closed"); }

  Result<std::unique_ptr<LocalConnection>> AcceptLoop() {
    for (;;) {
      if (!instance_.valid()) {
        OB_ASSIGN_OR_RETURN(instance_, CreatePipeInstance(address_, false));
      }
      Event connected;
      OVERLAPPED ov{};
      ov.hEvent = connected.get();
      if (!ConnectNamedPipe(instance_.get(), &ov)) {
        DWORD err = GetLastError();
        if (err == ERROR_IO_PENDING) {
          DWORD ignored = 0;
          auto finished = FinishOverlapped(instance_.get(), &ov, close_.get(), &ignored, "accept");
          if (!finished.ok()) {
            DisconnectNamedPipe(instance_.get());
            continue;  // the client went away before it was accepted
          }
          if (!*finished) return Cancelled();
        } else if (err == ERROR_NO_DATA) {
          DisconnectNamedPipe(instance_.get());  // connected and gone already
          continue;
        } else if (err != ERROR_PIPE_CONNECTED) {
          return WinErrorStatus("accept on", address_, err);
        }
      }
      if (WaitForSingleObject(close_.get(), 0) == WAIT_OBJECT_0) return Cancelled();
      if (!ClientAllowed(instance_.get())) {
        ++refused_;
        DisconnectNamedPipe(instance_.get());
        continue;
      }
      UniqueHandle client = std::move(instance_);
      // The next instance at once: a pipe name with no instance does not
      // exist, and a client connecting meanwhile would get kNotFound. If
      // it cannot be made now, the next Accept tries again and reports it.
      auto next = CreatePipeInstance(address_, false);
      if (next.ok()) instance_ = std::move(next).value();
      return std::unique_ptr<LocalConnection>(new PipeConnection(std::move(client)));
    }
  }

  std::mutex mu_;
  bool closed_ = false;
  bool accepting_ = false;
  UniqueHandle instance_;
  std::string address_;
  Event close_;
  std::atomic<uint64_t> refused_{0};
};

// ---- Service host -----------------------------------------------------------

// The SCM calls ServiceMain and the control handler on its own threads with
// no user pointer for ServiceMain; one service per process, so globals.
}  // namespace

DWORD AcceptedControls(DWORD state) {
  // PRESHUTDOWN: the SCM tells the service before the shutdown starts and
  // waits for it (up to the pre-shutdown timeout); SHUTDOWN alone comes
  // with only a few seconds left, too late to stop a backup cleanly.
  return state == SERVICE_RUNNING
             ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PRESHUTDOWN
             : 0;
}

ServiceControlAction ServiceControlActionFor(DWORD control) {
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_PRESHUTDOWN:
    case SERVICE_CONTROL_SHUTDOWN:
      return ServiceControlAction::kStop;
    case SERVICE_CONTROL_INTERROGATE:
      return ServiceControlAction::kNothing;
    default:
      return ServiceControlAction::kNotImplemented;
  }
}

namespace {

struct ServiceState {
  std::wstring name;
  const std::function<int(ServiceContext&)>* body = nullptr;
  SERVICE_STATUS_HANDLE status_handle = nullptr;
  SERVICE_STATUS status{};
  std::mutex mu;
  UniqueHandle stop_event{CreateEventW(nullptr, TRUE, FALSE, nullptr)};
  int exit_code = 0;
};
ServiceState* g_service = nullptr;

void SetServiceState(DWORD state, DWORD exit_code = 0) {
  std::lock_guard<std::mutex> lock(g_service->mu);
  SERVICE_STATUS& s = g_service->status;
  s.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  s.dwCurrentState = state;
  s.dwControlsAccepted = AcceptedControls(state);
  if (state == SERVICE_STOPPED && exit_code != 0) {
    s.dwWin32ExitCode = ERROR_SERVICE_SPECIFIC_ERROR;
    s.dwServiceSpecificExitCode = exit_code;
  } else {
    s.dwWin32ExitCode = NO_ERROR;
    s.dwServiceSpecificExitCode = 0;
  }
  bool pending = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
  s.dwCheckPoint = pending ? s.dwCheckPoint + 1 : 0;
  // Stopping waits up to a minute for a running job to stop cleanly
  // (cbengine's main): the hint covers that.
  s.dwWaitHint = state == SERVICE_STOP_PENDING ? 90000 : pending ? 30000 : 0;
  if (g_service->status_handle != nullptr) SetServiceStatus(g_service->status_handle, &s);
}

class WinServiceContext final : public ServiceContext {
 public:
  explicit WinServiceContext(bool under_scm) : under_scm_(under_scm) {}
  void ReportRunning() override {
    if (under_scm_) SetServiceState(SERVICE_RUNNING);
  }
  bool WaitForStop(int64_t timeout_ms) override {
    DWORD wait = timeout_ms < 0                                 ? 0
                 : timeout_ms >= static_cast<int64_t>(INFINITE) ? INFINITE - 1
                                                                : static_cast<DWORD>(timeout_ms);
    return WaitForSingleObject(g_service->stop_event.get(), wait) == WAIT_OBJECT_0;
  }
  bool StopRequested() override { return WaitForStop(0); }

 private:
  bool under_scm_;
};

DWORD WINAPI ServiceControl(DWORD control, DWORD, void*, void*) {
  switch (ServiceControlActionFor(control)) {
    case ServiceControlAction::kStop:
      SetServiceState(SERVICE_STOP_PENDING);
      SetEvent(g_service->stop_event.get());
      return NO_ERROR;
    case ServiceControlAction::kNothing:
      return NO_ERROR;
    case ServiceControlAction::kNotImplemented:
      break;
  }
  return ERROR_CALL_NOT_IMPLEMENTED;
}

// How long the SCM waits for the service at pre-shutdown before it goes on
// with the shutdown (the default is short on recent Windows): enough for a
// running job to stop cleanly and save its state. Best effort: the
// installer may have set it already, and Wine has no such setting.
void SetPreshutdownTimeout(const std::wstring& name) {
  SC_HANDLE manager = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
  if (manager == nullptr) return;
  SC_HANDLE service = OpenServiceW(manager, name.c_str(), SERVICE_CHANGE_CONFIG);
  if (service != nullptr) {
    SERVICE_PRESHUTDOWN_INFO info{};
    info.dwPreshutdownTimeout = kPreshutdownTimeoutMs;
    ChangeServiceConfig2W(service, SERVICE_CONFIG_PRESHUTDOWN_INFO, &info);
    CloseServiceHandle(service);
  }
  CloseServiceHandle(manager);
}

void WINAPI ServiceMain(DWORD, wchar_t**) {
  g_service->status_handle =
      RegisterServiceCtrlHandlerExW(g_service->name.c_str(), ServiceControl, nullptr);
  if (g_service->status_handle == nullptr) {
    g_service->exit_code = 1;
    return;
  }
  SetServiceState(SERVICE_START_PENDING);
  SetPreshutdownTimeout(g_service->name);
  WinServiceContext context(true);
  g_service->exit_code = (*g_service->body)(context);
  SetServiceState(SERVICE_STOPPED, static_cast<DWORD>(g_service->exit_code));
}

BOOL WINAPI ConsoleControl(DWORD type) {
  switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
    case CTRL_CLOSE_EVENT:
    case CTRL_SHUTDOWN_EVENT:
      SetEvent(g_service->stop_event.get());
      return TRUE;
    default:
      return FALSE;
  }
}

// ---- Task Scheduler ---------------------------------------------------------

template <typename T>
class ComPtr {
 public:
  ComPtr() = default;
  ~ComPtr() {
    if (p_ != nullptr) p_->Release();
  }
  ComPtr(const ComPtr&) = delete;
  ComPtr& operator=(const ComPtr&) = delete;
  T** out() { return &p_; }
  T* operator->() const { return p_; }
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
};

class Bstr {
 public:
  explicit Bstr(const std::wstring& s)
      : b_(SysAllocStringLen(s.data(), static_cast<UINT>(s.size()))) {}
  ~Bstr() { SysFreeString(b_); }
  Bstr(const Bstr&) = delete;
  Bstr& operator=(const Bstr&) = delete;
  BSTR get() const { return b_; }

 private:
  BSTR b_;
};

std::string Hex(HRESULT hr) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08lX", static_cast<unsigned long>(hr));
  return buf;
}

Status ComStatus(HRESULT hr, std::string_view what) {
  return Status(ErrorCode::kIo, std::string(what) + " failed with " + Hex(hr),
                static_cast<uint32_t>(hr));
}

class ComScope {
 public:
  ComScope() : hr_(CoInitializeEx(nullptr, COINIT_MULTITHREADED)) {}
  ~ComScope() {
    if (SUCCEEDED(hr_)) CoUninitialize();
  }
  // RPC_E_CHANGED_MODE: COM is already up on this thread; use it as it is.
  bool ok() const { return SUCCEEDED(hr_) || hr_ == RPC_E_CHANGED_MODE; }
  HRESULT hr() const { return hr_; }

 private:
  HRESULT hr_;
};

// "\obagent\OnlineBackup" -> ("\obagent", "OnlineBackup").
void SplitTaskName(const std::string& task_name, std::wstring* folder, std::wstring* leaf) {
  std::wstring wide = Widen(task_name);
  size_t slash = wide.rfind(L'\\');
  if (slash == std::wstring::npos || slash == 0) {
    *folder = L"\\";
    *leaf = slash == std::wstring::npos ? wide : wide.substr(1);
  } else {
    *folder = wide.substr(0, slash);
    *leaf = wide.substr(slash + 1);
  }
}

// The connected Task Scheduler, or kNotFound when this machine has none
// the engine can use (the engine then fires the schedule itself).
Status ConnectTaskService(ITaskService** out) {
  HRESULT hr = CoCreateInstance(CLSID_TaskScheduler, nullptr, CLSCTX_INPROC_SERVER,
                                IID_ITaskService, reinterpret_cast<void**>(out));
  if (FAILED(hr)) return NotFound("Task Scheduler is not available (" + Hex(hr) + ")");
  VARIANT empty;
  VariantInit(&empty);
  hr = (*out)->Connect(empty, empty, empty, empty);
  if (FAILED(hr)) {
    (*out)->Release();
    *out = nullptr;
    return NotFound("Task Scheduler service is not running (" + Hex(hr) + ")");
  }
  return Status::Ok();
}

// Whether the SCM started this process: its parent is services.exe (the
// test of Go's svc.IsWindowsService). Asking StartServiceCtrlDispatcherW
// instead costs nothing on Windows but ten seconds under Wine before it
// gives up, for every console start.
bool StartedByServiceControlManager() {
  HANDLE snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snapshot == INVALID_HANDLE_VALUE) return true;  // unknown: ask the SCM
  UniqueHandle guard(snapshot);
  const DWORD self = GetCurrentProcessId();
  DWORD parent = 0;
  PROCESSENTRY32W entry{};
  entry.dwSize = sizeof entry;
  for (BOOL more = Process32FirstW(snapshot, &entry); more;
       more = Process32NextW(snapshot, &entry)) {
    if (entry.th32ProcessID == self) parent = entry.th32ParentProcessID;
  }
  entry.dwSize = sizeof entry;
  for (BOOL more = Process32FirstW(snapshot, &entry); more;
       more = Process32NextW(snapshot, &entry)) {
    if (entry.th32ProcessID == parent && parent != 0) {
      return CompareStringOrdinal(entry.szExeFile, -1, L"services.exe", -1, TRUE) == CSTR_EQUAL;
    }
  }
  return false;
}

int RunInConsole(const std::function<int(ServiceContext&)>& body) {
  SetConsoleCtrlHandler(ConsoleControl, TRUE);
  WinServiceContext context(false);
  int code = body(context);
  SetConsoleCtrlHandler(ConsoleControl, FALSE);
  return code;
}

}  // namespace

std::string PipeNameForStateDir(const std::string& state_dir) {
  // Case-insensitive like the file system: C:/State and c:/state are one
  // folder, so one engine.
  uint64_t h = 14695981039346656037ull;
  for (char c : state_dir) {
    unsigned char u = static_cast<unsigned char>(c == '\\' ? '/' : c);
    if (u >= 'A' && u <= 'Z') u = static_cast<unsigned char>(u - 'A' + 'a');
    h ^= u;
    h *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::string(R"(\\.\pipe\obagent-)") + hex;
}

Result<std::unique_ptr<LocalListener>> ListenPipe(const std::string& address) {
  // FILE_FLAG_FIRST_PIPE_INSTANCE refuses a second engine (and a squatter
  // that created the name first) on Windows; Wine ignores the flag, so look
  // for a listening instance first as well, like the POSIX connect probe.
  if (WaitNamedPipeW(Widen(address).c_str(), 1) || GetLastError() != ERROR_FILE_NOT_FOUND) {
    return Status(ErrorCode::kAlreadyExists,
                  "another engine is already running for this state folder (" + address + ")");
  }
  OB_ASSIGN_OR_RETURN(UniqueHandle first, CreatePipeInstance(address, true));
  return std::unique_ptr<LocalListener>(new PipeListener(std::move(first), address));
}

Result<std::unique_ptr<LocalConnection>> ConnectPipe(const std::string& address) {
  std::wstring name = Widen(address);
  for (int attempt = 0;; ++attempt) {
    // SECURITY_IDENTIFICATION: the engine may learn who we are, never act
    // as us.
    HANDLE h = CreateFileW(
        name.c_str(), GENERIC_READ | GENERIC_WRITE | READ_CONTROL, 0, nullptr, OPEN_EXISTING,
        FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, nullptr);
    if (h != INVALID_HANDLE_VALUE) {
      UniqueHandle pipe(h);
      // The name is predictable: whoever created the pipe first serves it.
      // Only the engine's accounts may be that (the pipe's owner is its
      // creator; nobody without SeRestorePrivilege can make it SYSTEM).
      std::string owner = HandleOwnerSid(pipe.get());
      std::string me = CurrentUserSid();
      if (!PipeServerTrusted(owner, me, CurrentTokenOwnerSid())) {
        ULONG pid = 0;
        GetNamedPipeServerProcessId(pipe.get(), &pid);
        return Status(ErrorCode::kIo,
                      "the local API pipe " + address + " is served by process " +
                          std::to_string(pid) + " owned by " +
                          (owner.empty() ? std::string("an unknown account") : owner) +
                          ", not by the obagent engine (SYSTEM, Administrators or this user); "
                          "not talking to it. Stop that process and restart the engine.",
                      os_error::kAccessDenied);
      }
      return std::unique_ptr<LocalConnection>(new PipeConnection(std::move(pipe)));
    }
    DWORD err = GetLastError();
    if (err == ERROR_FILE_NOT_FOUND) {
      return NotFound("nothing listens at " + address);
    }
    // Every instance busy: the engine makes the next one when it accepts.
    if (err == ERROR_PIPE_BUSY && attempt < 10) {
      WaitNamedPipeW(name.c_str(), 1000);
      continue;
    }
    return WinErrorStatus("connect", address, err);
  }
}

int RunWinService(const std::string& name, bool service_manager,
                  const std::function<int(ServiceContext&)>& body) {
  static ServiceState state;
  state.name = Widen(name);
  state.body = &body;
  g_service = &state;
  // Started from a console (or a test), not by the SCM. (Wine's process list
  // does not show services.exe as the parent: --service says it.)
  if (!service_manager && !StartedByServiceControlManager()) return RunInConsole(body);
  SERVICE_TABLE_ENTRYW table[] = {{state.name.data(), ServiceMain}, {nullptr, nullptr}};
  if (StartServiceCtrlDispatcherW(table)) return state.exit_code;
  DWORD err = GetLastError();
  if (err == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) return RunInConsole(body);
  std::fprintf(stderr, "service %s: StartServiceCtrlDispatcher failed with error %lu\n",
               name.c_str(), static_cast<unsigned long>(err));
  return 1;
}

// COM, the connected Task Scheduler and the folder of one task, held for as
// long as the caller uses them (`com` is declared first: it ends last).
struct TaskFolder {
  ComScope com;
  ComPtr<ITaskService> service;
  ComPtr<ITaskFolder> folder;  // null: it does not exist and was not to be made
  std::wstring leaf;           // the task's name in the folder
};

// Opens the folder of `task_name` ("\obagent" of "\obagent\OnlineBackup"),
// making it when `create` is set. kNotFound when this machine has no Task
// Scheduler the engine can use (ConnectTaskService).
Status OpenTaskFolder(const std::string& task_name, bool create, TaskFolder* out) {
  if (!out->com.ok()) return ComStatus(out->com.hr(), "CoInitializeEx");
  OB_RETURN_IF_ERROR(ConnectTaskService(out->service.out()));
  std::wstring folder_path;
  SplitTaskName(task_name, &folder_path, &out->leaf);
  HRESULT hr = out->service->GetFolder(Bstr(folder_path).get(), out->folder.out());
  if (SUCCEEDED(hr) || !create) return Status::Ok();
  ComPtr<ITaskFolder> root;
  hr = out->service->GetFolder(Bstr(L"\\").get(), root.out());
  if (FAILED(hr)) return ComStatus(hr, "ITaskService::GetFolder(\\)");
  VARIANT sddl;
  VariantInit(&sddl);
  hr = root->CreateFolder(Bstr(folder_path).get(), sddl, out->folder.out());
  if (FAILED(hr)) return ComStatus(hr, "ITaskFolder::CreateFolder(" + Narrow(folder_path) + ")");
  return Status::Ok();
}

Status RegisterTask(const OsScheduleDefinition& d) {
  TaskFolder tasks;
  OB_RETURN_IF_ERROR(OpenTaskFolder(d.task_name, /*create=*/true, &tasks));
  ITaskFolder* folder = tasks.folder.get();
  const std::wstring& leaf = tasks.leaf;
  VARIANT user;
  VariantInit(&user);
  user.vt = VT_BSTR;
  Bstr system(L"SYSTEM");
  user.bstrVal = system.get();
  VARIANT no_password;
  VariantInit(&no_password);
  VARIANT no_sddl;
  VariantInit(&no_sddl);
  ComPtr<IRegisteredTask> task;
  HRESULT hr =
      folder->RegisterTask(Bstr(leaf).get(), Bstr(Widen(d.task_xml)).get(), TASK_CREATE_OR_UPDATE,
                           user, no_password, TASK_LOGON_SERVICE_ACCOUNT, no_sddl, task.out());
  if (FAILED(hr)) return ComStatus(hr, "ITaskFolder::RegisterTask(" + d.task_name + ")");
  // A scheduler that keeps the task but drops its triggers (Wine's) would
  // never start a backup: read the registration back, and if it lost the
  // triggers, remove it and let the engine fire the schedule itself.
  if (d.task_xml.find("<Triggers>") != std::string::npos) {
    ComPtr<ITaskDefinition> definition;
    ComPtr<ITriggerCollection> triggers;
    LONG count = 0;
    if (FAILED(task->get_Definition(definition.out())) ||
        FAILED(definition->get_Triggers(triggers.out())) || FAILED(triggers->get_Count(&count)) ||
        count == 0) {
      folder->DeleteTask(Bstr(leaf).get(), 0);
      return NotFound("Task Scheduler dropped the task's triggers: the engine schedules itself");
    }
  }
  return Status::Ok();
}

Status UnregisterTask(const OsScheduleDefinition& d) {
  TaskFolder tasks;
  OB_RETURN_IF_ERROR(OpenTaskFolder(d.task_name, /*create=*/false, &tasks));
  if (tasks.folder.get() == nullptr) return Status::Ok();  // never registered
  HRESULT hr = tasks.folder->DeleteTask(Bstr(tasks.leaf).get(), 0);
  if (FAILED(hr) && hr != HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)) {
    return ComStatus(hr, "ITaskFolder::DeleteTask(" + d.task_name + ")");
  }
  return Status::Ok();
}

}  // namespace obagent::platform::win
