// Errors as values at module boundaries. A Status carries an ErrorCode; codes
// that users search for map to the MARS catalogue ID (design.md §3), which is
// printed in front of every message.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace obagent {

enum class ErrorCode : uint8_t {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kIo,
  kCorrupt,             // integrity check failed (AEAD tag, id, pack hash)
  kUnsupportedVersion,  // a format version this build does not know
  kPathEscape,          // a restore path that would leave its target
  kCancelled,
  kInternal,
  kNoSpace,  // a volume is full (ENOSPC, ERROR_DISK_FULL)
  // Catalogue errors (design.md §3).
  kPassphraseNotConfigured,   // 34506: stored KEK missing or wrong, wrong passphrase
  kActivationFailed,          // 0x1FC07: scratch missing/moved, not registered
  kScratchInaccessible,       // SalVhdInitializationError
  kLowDiskSpace,              // SalLowDiskSpace
  kChecksumStoreFailed,       // SalChecksumStoreInitializationFailed
  kInvalidVaultCredentials,   // 34513
  kServiceUnreachable,        // 100050
  kCredentialDownloadFailed,  // 403
  kMachineRenamed,            // 230006
  // VSS_E_INSUFFICIENT_STORAGE: the shadow copy storage of a volume being
  // backed up is too small. MARS's guide names no ID of its own for it (it
  // says "Increase shadow copy storage"); users search for the HRESULT.
  kShadowStorageInsufficient,  // 0x8004231F
  // Any other snapshot failure the user has to fix (a VSS writer in a bad
  // state, an unsupported volume, not running as administrator); the detail
  // names the VSS error and what to do.
  kSnapshotFailed,
  // Not possible on this system or build (e.g. mounting a recovery point on
  // Windows); the detail says what to use instead.
  kUnsupported,
  // The engine service (cbengine / obengine) is not running, so the local
  // API has nobody to answer. Windows says ERROR_SERVICE_NOT_ACTIVE for a
  // stopped service; that HRESULT is its catalogue ID.
  kEngineNotRunning,  // 0x80070426
  // The vault refused to delete a machine's data because it holds it: an
  // unacknowledged anomaly (docs/operations.md, "Anomaly hold"). A prune
  // that meets it deleted nothing and ends with a warning naming the hold.
  kVaultHold,
  // vaultd's guard (include/obagent/vault/guard.h). A critical operation
  // (stop protection and delete data, passphrase change, reducing
  // retention, removing a machine, purging soft-deleted data early, turning
  // soft delete off) came without the vault's Security PIN, or with one
  // that is wrong, used or expired: MARS's "Invalid Security PIN entered".
  kSecurityPinInvalid,  // 100130
  // A retention under MARS's minimums (7 days, 4 weeks, 3 months, 1 year);
  // MARS's policy change error 0x29834.
  kRetentionBelowMinimum,  // 0x29834
  // vaultd refused to delete a recovery point younger than its retention
  // floor, or the wrapped key in use. MARS has no ID of its own for it.
  kProtectedByRetentionFloor,  // RetentionFloorProtected
  // The operation would cut what an immutable vault keeps (reduce
  // retention, shorten or turn off soft delete, purge early); no PIN
  // allows it.
  kVaultImmutable,  // ImmutableVault
};

// The code's stable name on the wire ("NotFound", "EngineNotRunning"):
// errors cross process boundaries (the local API, the console's answers)
// by name, never by the enum's number, so reordering the enum breaks no
// client. Every code has one.
std::string_view ErrorCodeName(ErrorCode code);
// The code ErrorCodeName gives `name`; nullopt for a name this build does
// not know (a newer engine's code: the caller decides what it reads as).
std::optional<ErrorCode> ErrorCodeFromName(std::string_view name);

// The operating-system error behind a Status, in the form Windows and MARS
// print it: HRESULT_FROM_WIN32(code), "0x80070005". src/platform maps the
// native error (errno, GetLastError) to it, so a failed-files list reads the
// same on every system. 0 means no OS error is known.
namespace os_error {
inline constexpr uint32_t kNone = 0;
inline constexpr uint32_t kFileNotFound = 0x80070002;      // ERROR_FILE_NOT_FOUND
inline constexpr uint32_t kPathNotFound = 0x80070003;      // ERROR_PATH_NOT_FOUND
inline constexpr uint32_t kAccessDenied = 0x80070005;      // ERROR_ACCESS_DENIED
inline constexpr uint32_t kSharingViolation = 0x80070020;  // ERROR_SHARING_VIOLATION
inline constexpr uint32_t kNotSupported = 0x80070032;      // ERROR_NOT_SUPPORTED
inline constexpr uint32_t kFileCorrupt = 0x80070570;       // ERROR_FILE_CORRUPT
inline constexpr uint32_t kIoDevice = 0x8007045D;          // ERROR_IO_DEVICE
inline constexpr uint32_t kDiskFull = 0x80070070;          // ERROR_DISK_FULL
inline constexpr uint32_t kUnspecified = 0x80004005;       // E_FAIL
// "0x80070005"; "" for kNone.
std::string Format(uint32_t hresult);
// A plain sentence for the codes above ("Access is denied: …"); "" for others.
std::string_view Describe(uint32_t hresult);
}  // namespace os_error

// The ID users search for ("34506", "0x1FC07", "SalLowDiskSpace"...), or ""
// for codes outside the catalogue.
std::string_view CatalogueId(ErrorCode code);
// The catalogue's message gist for the code ("Invalid vault credentials provided").
std::string_view CatalogueMessage(ErrorCode code);
// For the console and obctl: what happened, in plain words, and what to do
// about it. "" for codes outside the catalogue.
std::string_view CatalogueExplanation(ErrorCode code);
std::string_view CatalogueAction(ErrorCode code);
// Every code that has a catalogue ID.
std::span<const ErrorCode> CatalogueCodes();

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string detail) : code_(code), detail_(std::move(detail)) {}
  Status(ErrorCode code, std::string detail, uint32_t os_error)
      : code_(code), detail_(std::move(detail)), os_error_(os_error) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& detail() const { return detail_; }
  // The OS error (os_error::k…) when the status comes from an OS call, else
  // os_error::kNone. Kept by WithContext.
  uint32_t os_error() const { return os_error_; }
  // "[34506] Encryption passphrase not correctly configured: <detail>" for
  // catalogue codes, "<detail>" otherwise.
  std::string ToString() const;
  // Prepends context: "reading pack ab12…: <detail>".
  Status WithContext(std::string_view context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string detail_;
  uint32_t os_error_ = os_error::kNone;
};

inline Status InvalidArgument(std::string d) { return {ErrorCode::kInvalidArgument, std::move(d)}; }
inline Status NotFound(std::string d) { return {ErrorCode::kNotFound, std::move(d)}; }
inline Status IoError(std::string d) { return {ErrorCode::kIo, std::move(d)}; }
inline Status Corrupt(std::string d) { return {ErrorCode::kCorrupt, std::move(d)}; }
inline Status InternalError(std::string d) { return {ErrorCode::kInternal, std::move(d)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace obagent

#define OB_CONCAT_INNER(a, b) a##b
#define OB_CONCAT(a, b) OB_CONCAT_INNER(a, b)

#define OB_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::obagent::Status ob_status_ = (expr);   \
    if (!ob_status_.ok()) return ob_status_; \
  } while (0)

#define OB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#define OB_ASSIGN_OR_RETURN(lhs, expr) \
  OB_ASSIGN_OR_RETURN_IMPL(OB_CONCAT(ob_result_, __LINE__), lhs, expr)
