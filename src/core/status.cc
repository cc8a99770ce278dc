#include "obagent/status.h"

#include <cstdio>

namespace obagent {

std::string os_error::Format(uint32_t hresult) {
  if (hresult == kNone) return "";
  char text[16];
  std::snprintf(text, sizeof text, "0x%08X", static_cast<unsigned>(hresult));
  return text;
}

std::string_view os_error::Describe(uint32_t hresult) {
  switch (hresult) {
    case kFileNotFound:
      return "The file was not found (it was deleted or renamed while the job ran).";
    case kPathNotFound:
      return "The folder was not found.";
    case kAccessDenied:
      return "Access is denied: the service account may not read it.";
    case kSharingViolation:
      return "Another program has the file open and does not allow reading it.";
    case kNotSupported:
      return "The file's type is not supported (a device, socket or pipe).";
    case kFileCorrupt:
      return "The file or the disk structure holding it is corrupt.";
    case kIoDevice:
      return "The disk reported an I/O error.";
    case kDiskFull:
      return "The disk is full.";
    case 0x8007018B:  // ERROR_CLOUD_FILE_ACCESS_DENIED (platform/reparse_read.h)
      return "A cloud file whose data is not on this disk (OneDrive, Azure File Sync): the "
             "backup does not download it.";
    case kUnspecified:
      return "The operating system reported an unspecified error.";
    default:
      return "";
  }
}

namespace {

struct NamedCode {
  ErrorCode code;
  std::string_view name;
};
// One row per code; ErrorCodeName and ErrorCodeFromName read this table only.
constexpr NamedCode kCodeNames[] = {
    {ErrorCode::kOk, "Ok"},
    {ErrorCode::kInvalidArgument, "InvalidArgument"},
    {ErrorCode::kNotFound, "NotFound"},
    {ErrorCode::kAlreadyExists, "AlreadyExists"},
    {ErrorCode::kIo, "Io"},
    {ErrorCode::kCorrupt, "Corrupt"},
    {ErrorCode::kUnsupportedVersion, "UnsupportedVersion"},
    {ErrorCode::kPathEscape, "PathEscape"},
    {ErrorCode::kCancelled, "Cancelled"},
    {ErrorCode::kInternal, "Internal"},
    {ErrorCode::kNoSpace, "NoSpace"},
    {ErrorCode::kPassphraseNotConfigured, "PassphraseNotConfigured"},
    {ErrorCode::kActivationFailed, "ActivationFailed"},
    {ErrorCode::kScratchInaccessible, "ScratchInaccessible"},
    {ErrorCode::kLowDiskSpace, "LowDiskSpace"},
    {ErrorCode::kChecksumStoreFailed, "ChecksumStoreFailed"},
    {ErrorCode::kInvalidVaultCredentials, "InvalidVaultCredentials"},
    {ErrorCode::kServiceUnreachable, "ServiceUnreachable"},
    {ErrorCode::kCredentialDownloadFailed, "CredentialDownloadFailed"},
    {ErrorCode::kMachineRenamed, "MachineRenamed"},
    {ErrorCode::kShadowStorageInsufficient, "ShadowStorageInsufficient"},
    {ErrorCode::kSnapshotFailed, "SnapshotFailed"},
    {ErrorCode::kUnsupported, "Unsupported"},
    {ErrorCode::kEngineNotRunning, "EngineNotRunning"},
    {ErrorCode::kVaultHold, "VaultHold"},
    {ErrorCode::kSecurityPinInvalid, "SecurityPinInvalid"},
    {ErrorCode::kRetentionBelowMinimum, "RetentionBelowMinimum"},
    {ErrorCode::kProtectedByRetentionFloor, "ProtectedByRetentionFloor"},
    {ErrorCode::kVaultImmutable, "VaultImmutable"},
};

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  for (const NamedCode& c : kCodeNames) {
    if (c.code == code) return c.name;
  }
  return "Internal";  // unreachable: every code has a row (status_test)
}

std::optional<ErrorCode> ErrorCodeFromName(std::string_view name) {
  for (const NamedCode& c : kCodeNames) {
    if (c.name == name) return c.code;
  }
  return std::nullopt;
}

std::string_view CatalogueId(ErrorCode code) {
  switch (code) {
    case ErrorCode::kPassphraseNotConfigured:
      return "34506";
    case ErrorCode::kActivationFailed:
      return "0x1FC07";
    case ErrorCode::kScratchInaccessible:
      return "SalVhdInitializationError";
    case ErrorCode::kLowDiskSpace:
      return "SalLowDiskSpace";
    case ErrorCode::kChecksumStoreFailed:
      return "SalChecksumStoreInitializationFailed";
    case ErrorCode::kInvalidVaultCredentials:
      return "34513";
    case ErrorCode::kServiceUnreachable:
      return "100050";
    case ErrorCode::kCredentialDownloadFailed:
      return "403";
    case ErrorCode::kMachineRenamed:
      return "230006";
    case ErrorCode::kShadowStorageInsufficient:
      return "0x8004231F";
    case ErrorCode::kEngineNotRunning:
      return "0x80070426";
    case ErrorCode::kSecurityPinInvalid:
      return "100130";
    case ErrorCode::kRetentionBelowMinimum:
      return "0x29834";
    case ErrorCode::kProtectedByRetentionFloor:
      return "RetentionFloorProtected";
    case ErrorCode::kVaultImmutable:
      return "ImmutableVault";
    default:
      return "";
  }
}

std::string_view CatalogueMessage(ErrorCode code) {
  switch (code) {
    case ErrorCode::kPassphraseNotConfigured:
      return "Encryption passphrase not correctly configured";
    case ErrorCode::kActivationFailed:
      return "The activation did not complete successfully";
    case ErrorCode::kScratchInaccessible:
      return "Could not access the scratch location";
    case ErrorCode::kLowDiskSpace:
      return "Backup failed: insufficient storage where scratch is";
    case ErrorCode::kChecksumStoreFailed:
      return "Could not access the backup checksum in scratch";
    case ErrorCode::kInvalidVaultCredentials:
      return "Invalid vault credentials provided";
    case ErrorCode::kServiceUnreachable:
      return "Agent was unable to connect to the backup service";
    case ErrorCode::kCredentialDownloadFailed:
      return "Failed to download vault credential file";
    case ErrorCode::kMachineRenamed:
      return "Resource not provisioned in service stamp";
    case ErrorCode::kShadowStorageInsufficient:
      return "Backup failed: insufficient shadow copy storage on a volume being backed up";
    case ErrorCode::kEngineNotRunning:
      return "The backup engine service is not running";
    case ErrorCode::kSecurityPinInvalid:
      return "Invalid Security PIN entered";
    case ErrorCode::kRetentionBelowMinimum:
      return "The retention is below the minimum retention range";
    case ErrorCode::kProtectedByRetentionFloor:
      return "The recovery point is protected by the vault's retention floor";
    case ErrorCode::kVaultImmutable:
      return "The vault is immutable";
    default:
      return "";
  }
}

std::span<const ErrorCode> CatalogueCodes() {
  static constexpr ErrorCode kCodes[] = {
      ErrorCode::kPassphraseNotConfigured, ErrorCode::kActivationFailed,
      ErrorCode::kScratchInaccessible,     ErrorCode::kLowDiskSpace,
      ErrorCode::kChecksumStoreFailed,     ErrorCode::kInvalidVaultCredentials,
      ErrorCode::kServiceUnreachable,      ErrorCode::kCredentialDownloadFailed,
      ErrorCode::kMachineRenamed,          ErrorCode::kShadowStorageInsufficient,
      ErrorCode::kEngineNotRunning,        ErrorCode::kSecurityPinInvalid,
      ErrorCode::kRetentionBelowMinimum,   ErrorCode::kProtectedByRetentionFloor,
      ErrorCode::kVaultImmutable,
  };
  return kCodes;
}

// The texts follow docs/errors.md; they are written for someone who does
// not know the engine's insides, and name the console's action (Register
// Server, Change Properties…) beside the obctl command.
std::string_view CatalogueExplanation(ErrorCode code) {
  switch (code) {
    case ErrorCode::kPassphraseNotConfigured:
      return "The encryption passphrase given does not open this machine's backups, or the key "
             "file kept in the scratch folder (OnlineBackup.KEK) is missing or damaged.";
    case ErrorCode::kActivationFailed:
      return "This machine is not registered with a vault, or its scratch folder was deleted or "
             "moved, so the agent cannot start a job.";
    case ErrorCode::kScratchInaccessible:
      return "The scratch folder exists but the agent cannot write to it, or it is compressed, "
             "sparse or a reparse point (Windows).";
    case ErrorCode::kLowDiskSpace:
      return "The volume holding the scratch folder has less than 5 % free space, or filled up "
             "while the backup was staging data. Nothing in the vault was changed.";
    case ErrorCode::kChecksumStoreFailed:
      return "The change-tracking data in the scratch folder could not be read.";
    case ErrorCode::kInvalidVaultCredentials:
      return "The vault-credential file is corrupt, was changed, belongs to another vault, was "
             "replaced by a newer download, or has expired (they are valid for 48 hours).";
    case ErrorCode::kServiceUnreachable:
      return "The vault service (or the storage behind it) could not be reached after several "
             "retries, or a proxy refused the connection.";
    case ErrorCode::kCredentialDownloadFailed:
      return "The vault refused to issue a credential file or to register the machine: you lack "
             "the rights, or the vault already has 50 machines.";
    case ErrorCode::kMachineRenamed:
      return "This computer's name differs from the name it was registered with.";
    case ErrorCode::kShadowStorageInsufficient:
      return "Windows could not create the shadow copy the backup reads from, because the "
             "shadow copy storage of a volume is too small.";
    case ErrorCode::kEngineNotRunning:
      return "The engine service (cbengine on Linux, obengine on Windows) that runs backups, "
             "the schedule and the console is not running, so the command had nobody to ask.";
    case ErrorCode::kSecurityPinInvalid:
      return "This operation can destroy backups or lock you out of them (stop protection and "
             "delete data, passphrase change, reducing retention, removing a machine, purging "
             "deleted data early, turning soft delete off), so the vault service asks for the "
             "vault's Security PIN: it was not given, is wrong, was used already, has expired "
             "(a PIN is valid 5 minutes and once), or was voided after 5 wrong tries.";
    case ErrorCode::kRetentionBelowMinimum:
      return "A retention policy must keep daily points at least 7 days, and a weekly, monthly "
             "or yearly tier that is on at least 4 weeks, 3 months or 1 year, so that a "
             "compromised server cannot make its backups expire at once.";
    case ErrorCode::kProtectedByRetentionFloor:
      return "The vault keeps every recovery point for the machine's retention (at least 7 "
             "days) after its upload, whatever the machine asks; this point is younger, or the "
             "object is the machine's encryption key in use.";
    case ErrorCode::kVaultImmutable:
      return "The vault's administrator made the vault immutable: retention cannot be reduced, "
             "soft delete cannot be shortened or turned off and deleted data cannot be purged "
             "early, with or without the Security PIN. It cannot be undone.";
    default:
      return "";
  }
}

std::string_view CatalogueAction(ErrorCode code) {
  switch (code) {
    case ErrorCode::kPassphraseNotConfigured:
      return "Enter the passphrase the backups were made with. If the key file was lost, register "
             "the machine again (Register Server, or obctl register) with the same passphrase.";
    case ErrorCode::kActivationFailed:
      return "Register the machine (Register Server, or obctl register). If the scratch folder "
             "was moved, put it back or set the new place in Change Properties.";
    case ErrorCode::kScratchInaccessible:
      return "Give the service account write access to the scratch folder, or move the scratch "
             "folder to a plain local folder (Change Properties, or obctl machine-setting set "
             "--scratch-location).";
    case ErrorCode::kLowDiskSpace:
      return "Free space on that volume, or move the scratch folder to a volume with more room "
             "(Change Properties), then run the backup again.";
    case ErrorCode::kChecksumStoreFailed:
      return "Run the backup again; the agent rebuilds the change-tracking data from the vault. "
             "If it keeps failing, check the scratch volume for errors.";
    case ErrorCode::kInvalidVaultCredentials:
      return "Download a new vault-credential file (obctl vault credentials on the vault) and use "
             "it at once.";
    case ErrorCode::kServiceUnreachable:
      return "Check that the vault service runs and is reachable from this machine, and the "
             "proxy settings (Change Properties, Proxy), then try again.";
    case ErrorCode::kCredentialDownloadFailed:
      return "Ask the vault's administrator for the rights, or use another vault or remove a "
             "machine that is no longer backed up.";
    case ErrorCode::kMachineRenamed:
      return "Rename the computer back to its registered name, or register it again.";
    case ErrorCode::kShadowStorageInsufficient:
      return "From an elevated prompt run vssadmin List ShadowStorage, then vssadmin Resize "
             "ShadowStorage /For=C: /On=C: /MaxSize=10% for the volume named, and back up again.";
    case ErrorCode::kEngineNotRunning:
      return "Start the service (systemctl start cbengine, or sc start obengine on Windows) and "
             "try again; its log says why it stopped.";
    case ErrorCode::kSecurityPinInvalid:
      return "Ask the vault's administrator for a new Security PIN (obctl vault security-pin) "
             "and give it within 5 minutes (--pin, or the Security PIN field of the console).";
    case ErrorCode::kRetentionBelowMinimum:
      return "Set at least 7 days of daily points, and 4 weeks, 3 months or 1 year for a tier "
             "you turn on (or 0 to leave it off).";
    case ErrorCode::kProtectedByRetentionFloor:
      return "Nothing to do: the point is deleted by a later prune once it is older than the "
             "retention. To remove it now, reduce the retention with the Security PIN (obctl "
             "policy set-retention --pin) or stop protection and delete data.";
    case ErrorCode::kVaultImmutable:
      return "Keep the current setting; on an immutable vault only longer retention and longer "
             "soft delete are possible.";
    default:
      return "";
  }
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string_view id = CatalogueId(code_);
  if (id.empty()) return detail_;
  std::string out = "[" + std::string(id) + "] " + std::string(CatalogueMessage(code_));
  if (!detail_.empty()) out += ": " + detail_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + detail_, os_error_);
}

}  // namespace obagent
