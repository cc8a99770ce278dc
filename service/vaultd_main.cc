// vaultd: the vault service (docs/vault-api.md). Keeps vaults, issues
// vault-credential files, registers machines and stores their encrypted
// objects in a local folder or Azure Blob Storage.
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/program_options.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "obagent/http_client.h"
#include "obagent/platform.h"
#include "obagent/storage/blob_store.h"
#include "obagent/vault/alert_delivery.h"
#include "obagent/vault/alerts.h"
#include "obagent/vault/audit.h"
#include "obagent/vault/http_server.h"
#include "obagent/vault/metadata.h"
#include "obagent/vault/service.h"

namespace po = boost::program_options;
using namespace obagent;

namespace {

struct Flags {
  std::string config;
  std::string listen = "http://127.0.0.1:8470";
  std::string public_url;
  std::string state_dir;
  std::string admin_token_file;
  std::string backend = "local";
  std::string data_dir;
  std::string azure_endpoint;
  std::string azure_account;
  std::string azure_key_file;
  std::string azure_container = "obagent";
  double validity_hours = 48;
  std::string tls_cert;
  std::string tls_key;
  std::string log_level = "info";
  // The defaults of vault::HttpServerOptions / ServiceOptions.
  double timeout = 300;
  double idle_timeout = 30;
  double header_timeout = 10;
  size_t max_connections = 256;
  size_t max_connections_per_client = 64;
  uint64_t max_pack_bytes = uint64_t{1} << 30;
  uint64_t max_object_bytes = uint64_t{4} << 30;
  double purge_interval = 3600;  // seconds between collector runs
  // Alerts (docs/operations.md, "Alerts").
  std::string smtp_server;
  int smtp_port = 587;
  std::string smtp_starttls = "required";
  std::string smtp_ca_file;
  std::string smtp_user;
  std::string smtp_password_file;
  std::string smtp_from;
  std::string smtp_to;  // comma-separated
  int smtp_timeout = 30;
  std::string webhook_url;
  std::string webhook_secret_file;
  int webhook_timeout = 30;
  double alert_retry = 2;  // seconds before the first retry, doubled after each
  int alert_attempts = 6;
  double expected_backup_interval = 0;  // seconds; 0: learnt per machine
  double missed_backup_check = 300;
  double mass_delete_window = 3600;
  size_t mass_delete_min = 50;
  double mass_delete_share = 0.5;
  size_t mass_delete_max = 10000;
};

int Fail(const std::string& message) {
  spdlog::error("{}", message);
  return 1;
}

std::string Trimmed(const Bytes& data) {
  std::string s(data.begin(), data.end());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<std::unique_ptr<storage::BlobStore>> OpenBackend(platform::Env& env, const Flags& f) {
  if (f.backend == "local") {
    std::string data = f.data_dir.empty() ? f.state_dir + "/data" : f.data_dir;
    OB_RETURN_IF_ERROR(env.CreateDirs(data, true).WithContext("creating the data folder"));
    return storage::OpenLocalDirStore(data);
  }
  if (f.backend == "azure") {
    if (f.azure_endpoint.empty() || f.azure_account.empty() || f.azure_key_file.empty()) {
      return InvalidArgument(
          "--backend azure needs --azure-endpoint, --azure-account and --azure-key-file");
    }
    OB_ASSIGN_OR_RETURN(Bytes key, env.ReadFile(f.azure_key_file));
    storage::AzureBlobConfig config;
    config.endpoint = f.azure_endpoint;
    config.account = f.azure_account;
    config.account_key = Trimmed(key);
    config.container = f.azure_container;
    return storage::OpenAzureBlobStore(config);
  }
  return InvalidArgument("--backend must be local or azure, not '" + f.backend + "'");
}

// The alert channels the flags set up; an error for half a setting.
Status AddAlertChannels(platform::Env& env, const Flags& f, vault::AlertCenter& alerts) {
  if (!f.smtp_server.empty()) {
    vault::SmtpSettings smtp;
    smtp.server = f.smtp_server;
    smtp.port = f.smtp_port;
    smtp.starttls = f.smtp_starttls;
    smtp.ca_file = f.smtp_ca_file;
    smtp.user = f.smtp_user;
    smtp.from = f.smtp_from;
    smtp.timeout_seconds = f.smtp_timeout;
    std::string to = f.smtp_to;
    for (size_t start = 0; start <= to.size();) {
      size_t end = std::min(to.find(',', start), to.size());
      std::string one = to.substr(start, end - start);
      while (!one.empty() && one.front() == ' ') one.erase(0, 1);
      while (!one.empty() && one.back() == ' ') one.pop_back();
      if (!one.empty()) smtp.to.push_back(one);
      start = end + 1;
    }
    if (!smtp.user.empty()) {
      if (f.smtp_password_file.empty()) {
        return InvalidArgument("--alerts-smtp-user needs --alerts-smtp-password-file");
      }
      OB_ASSIGN_OR_RETURN(Bytes pw, env.ReadFile(f.smtp_password_file));
      smtp.password = Trimmed(pw);
    }
    OB_RETURN_IF_ERROR(vault::ValidateSmtpSettings(smtp));
    spdlog::info("alerts by e-mail through {}:{} (STARTTLS {}) to {}", smtp.server, smtp.port,
                 smtp.starttls, f.smtp_to);
    alerts.AddChannel(vault::NewEmailChannel(std::move(smtp)));
  }
  if (!f.webhook_url.empty()) {
    if (f.webhook_secret_file.empty()) {
      return InvalidArgument("--alerts-webhook-url needs --alerts-webhook-secret-file");
    }
    OB_RETURN_IF_ERROR(platform::ParseHttpUrl(f.webhook_url).status());
    OB_ASSIGN_OR_RETURN(Bytes secret, env.ReadFile(f.webhook_secret_file));
    vault::WebhookSettings hook{f.webhook_url, Trimmed(secret), f.webhook_timeout};
    if (hook.secret.size() < 16) {
      return InvalidArgument("the webhook secret in " + f.webhook_secret_file +
                             " is shorter than 16 characters");
    }
    spdlog::info("alerts by webhook to {}", f.webhook_url);
    alerts.AddChannel(vault::NewWebhookChannel(std::move(hook)));
  }
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM/SIGINT are taken by sigwait at the end; block them before any
  // thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // OpenSSL first, before cpprestsdk's thread pool exists: exit handlers run
  // in reverse order, so the pool's threads (and their OpenSSL per-thread
  // state) are gone before OpenSSL cleans up, and nothing leaks at exit.
  OPENSSL_init_ssl(0, nullptr);

  auto logger = spdlog::stderr_color_mt("vaultd");
  spdlog::set_default_logger(logger);

  Flags f;
  po::options_description settings("Settings (also as \"key = value\" lines in --config)");
  auto add = settings.add_options();
  add("listen", po::value(&f.listen)->default_value(f.listen),
      "URL to listen on (http:// or https://)");
  add("public-url", po::value(&f.public_url),
      "ServiceUrl written into credential files (default: --listen)");
  add("state-dir", po::value(&f.state_dir), "folder for vaultd's metadata (required)");
  add("admin-token-file", po::value(&f.admin_token_file),
      "admin token file (default STATE/admin.token; created 0600 if missing)");
  add("backend", po::value(&f.backend)->default_value(f.backend), "object storage: local or azure");
  add("data-dir", po::value(&f.data_dir), "local backend folder (default STATE/data)");
  add("azure-endpoint", po::value(&f.azure_endpoint),
      "Blob service endpoint, e.g. http://127.0.0.1:10000/devstoreaccount1");
  add("azure-account", po::value(&f.azure_account), "storage account name");
  add("azure-key-file", po::value(&f.azure_key_file), "file holding the base64 account key");
  add("azure-container", po::value(&f.azure_container)->default_value(f.azure_container),
      "blob container");
  add("credential-validity-hours", po::value(&f.validity_hours)->default_value(f.validity_hours),
      "default validity of credential files");
  add("tls-cert", po::value(&f.tls_cert), "PEM certificate chain (with --tls-key: serve https)");
  add("tls-key", po::value(&f.tls_key), "PEM private key");
  add("log-level", po::value(&f.log_level)->default_value(f.log_level),
      "trace, debug, info, warn, error");
  add("timeout", po::value(&f.timeout)->default_value(f.timeout),
      "seconds per send/receive of a request's body and answer");
  add("idle-timeout", po::value(&f.idle_timeout)->default_value(f.idle_timeout),
      "seconds a connection may wait for its next request");
  add("header-timeout", po::value(&f.header_timeout)->default_value(f.header_timeout),
      "seconds a request's header may take after its first byte");
  add("max-connections", po::value(&f.max_connections)->default_value(f.max_connections),
      "open connections in all (at the cap an idle one makes room, else a new one is closed)");
  add("max-connections-per-client",
      po::value(&f.max_connections_per_client)->default_value(f.max_connections_per_client),
      "open connections from one address (same rule)");
  add("max-pack-bytes", po::value(&f.max_pack_bytes)->default_value(f.max_pack_bytes),
      "largest pack (data/...) a PUT may store (413 beyond)");
  add("max-object-bytes", po::value(&f.max_object_bytes)->default_value(f.max_object_bytes),
      "largest other object (index files, recovery points) a PUT may store (413 beyond)");
  add("purge-interval-seconds", po::value(&f.purge_interval)->default_value(f.purge_interval),
      "seconds between runs of the collector that purges soft-deleted objects past their "
      "vault's soft_delete_days");
  add("alerts-smtp-server", po::value(&f.smtp_server),
      "SMTP server for alert e-mail (none: no e-mail)");
  add("alerts-smtp-port", po::value(&f.smtp_port)->default_value(f.smtp_port), "SMTP port");
  add("alerts-smtp-starttls", po::value(&f.smtp_starttls)->default_value(f.smtp_starttls),
      "required (STARTTLS with the server's certificate verified) or off (plain text, no "
      "credentials)");
  add("alerts-smtp-ca-file", po::value(&f.smtp_ca_file),
      "PEM CA certificates the SMTP server's certificate must chain to (default: the system's)");
  add("alerts-smtp-user", po::value(&f.smtp_user), "SMTP user (AUTH PLAIN or LOGIN, over TLS)");
  add("alerts-smtp-password-file", po::value(&f.smtp_password_file),
      "file holding the SMTP password");
  add("alerts-smtp-from", po::value(&f.smtp_from), "sender address of alert e-mail");
  add("alerts-smtp-to", po::value(&f.smtp_to), "recipient addresses, comma-separated");
  add("alerts-smtp-timeout", po::value(&f.smtp_timeout)->default_value(f.smtp_timeout),
      "seconds per SMTP step");
  add("alerts-webhook-url", po::value(&f.webhook_url),
      "URL alerts are POSTed to as signed JSON (none: no webhook)");
  add("alerts-webhook-secret-file", po::value(&f.webhook_secret_file),
      "file holding the webhook's HMAC-SHA256 secret (at least 16 characters)");
  add("alerts-webhook-timeout", po::value(&f.webhook_timeout)->default_value(f.webhook_timeout),
      "seconds per webhook POST");
  add("alerts-retry-seconds", po::value(&f.alert_retry)->default_value(f.alert_retry),
      "seconds before a failed delivery is tried again (doubled each time, at most 300)");
  add("alerts-max-attempts", po::value(&f.alert_attempts)->default_value(f.alert_attempts),
      "delivery attempts per alert and channel");
  add("expected-backup-interval-seconds",
      po::value(&f.expected_backup_interval)->default_value(f.expected_backup_interval),
      "a machine without a successful backup for longer raises backup_missed (0: 1.5 times "
      "the median gap of its last backups)");
  add("missed-backup-check-seconds",
      po::value(&f.missed_backup_check)->default_value(f.missed_backup_check),
      "seconds between checks for missed backups");
  add("mass-delete-window-seconds",
      po::value(&f.mass_delete_window)->default_value(f.mass_delete_window),
      "window in which a machine's deletes are counted for mass_deletion");
  add("mass-delete-min", po::value(&f.mass_delete_min)->default_value(f.mass_delete_min),
      "deletes in the window that raise mass_deletion when they are --mass-delete-share of the "
      "machine's objects");
  add("mass-delete-share", po::value(&f.mass_delete_share)->default_value(f.mass_delete_share),
      "share (0-1) of a machine's objects");
  add("mass-delete-max", po::value(&f.mass_delete_max)->default_value(f.mass_delete_max),
      "deletes in the window that raise mass_deletion whatever the share");
  po::options_description cmdline("Usage: vaultd --state-dir DIR [options]");
  cmdline.add_options()("help,h", "show this help")(
      "config", po::value(&f.config), "file of \"key = value\" lines (flags win over it)");
  cmdline.add(settings);

  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, cmdline), vm);
    if (vm.count("help")) {
      std::cout << cmdline << "\n";
      return 0;
    }
    if (vm.count("config")) {
      std::string path = vm["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) return Fail("cannot read the config file " + path);
      po::store(po::parse_config_file(in, settings), vm);
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    return Fail(std::string(e.what()) + " (see vaultd --help)");
  }
  spdlog::level::level_enum level = spdlog::level::from_str(f.log_level);
  if (level == spdlog::level::off && f.log_level != "off") {
    return Fail("--log-level must be trace, debug, info, warn, error or off");
  }
  spdlog::set_level(level);
  if (f.state_dir.empty()) return Fail("--state-dir is required");
  if (!(f.purge_interval > 0)) return Fail("--purge-interval-seconds must be positive");
  if (!(f.missed_backup_check > 0) || !(f.alert_retry > 0) || f.alert_attempts < 1 ||
      !(f.mass_delete_window > 0) || !(f.mass_delete_share > 0) || f.mass_delete_share > 1 ||
      !(f.expected_backup_interval >= 0)) {
    return Fail(
        "--missed-backup-check-seconds, --alerts-retry-seconds, --alerts-max-attempts and "
        "--mass-delete-window-seconds must be positive, --mass-delete-share in (0, 1], "
        "--expected-backup-interval-seconds at least 0");
  }
  if (!(f.validity_hours > 0)) return Fail("--credential-validity-hours must be positive");
  if (!(f.timeout > 0) || !(f.idle_timeout > 0) || !(f.header_timeout > 0)) {
    return Fail("--timeout, --idle-timeout and --header-timeout must be positive");
  }
  if (f.max_connections == 0 || f.max_connections_per_client == 0) {
    return Fail("--max-connections and --max-connections-per-client must be at least 1");
  }

  platform::Env& env = platform::Env::Default();
  // Object bodies pass in pieces of 1 to 4 MiB on many threads: hand freed
  // pieces back to the OS rather than keeping them in per-thread heaps.
  env.PreferReturningLargeBuffers();
  Status st = env.CreateDirs(f.state_dir, true);
  if (!st.ok()) return Fail("creating the state folder: " + st.ToString());
  std::string token_file =
      f.admin_token_file.empty() ? f.state_dir + "/admin.token" : f.admin_token_file;
  auto token = vault::LoadOrCreateAdminToken(env, token_file);
  if (!token.ok()) return Fail(token.status().ToString());
  auto metadata = vault::MetadataStore::Open(env, f.state_dir + "/meta");
  if (!metadata.ok()) return Fail("loading metadata: " + metadata.status().ToString());
  auto blobs = OpenBackend(env, f);
  if (!blobs.ok()) return Fail("opening the object storage: " + blobs.status().ToString());

  vault::AlertCenterOptions alert_options;
  alert_options.first_retry_ms = static_cast<int64_t>(f.alert_retry * 1000);
  alert_options.max_attempts = f.alert_attempts;
  auto alerts = vault::AlertCenter::Open(env, f.state_dir + "/alerts", alert_options);
  if (!alerts.ok()) return Fail("loading alerts: " + alerts.status().ToString());
  st = AddAlertChannels(env, f, **alerts);
  if (!st.ok()) return Fail("alert delivery: " + st.ToString());
  auto audit = vault::AuditLog::Open(env, f.state_dir);
  if (!audit.ok()) return Fail("opening the audit log: " + audit.status().ToString());

  vault::ServiceOptions options;
  options.alerts = alerts->get();
  options.audit = audit->get();
  options.expected_backup_interval_ms = static_cast<int64_t>(f.expected_backup_interval * 1000);
  options.mass_deletion.window_ms = static_cast<int64_t>(f.mass_delete_window * 1000);
  options.mass_deletion.min_count = f.mass_delete_min;
  options.mass_deletion.share = f.mass_delete_share;
  options.mass_deletion.max_count = f.mass_delete_max;
  options.service_url = f.public_url.empty() ? f.listen : f.public_url;
  options.admin_token = *token;
  options.credential_validity_hours = f.validity_hours;
  options.max_pack_bytes = f.max_pack_bytes;
  options.max_object_bytes = f.max_object_bytes;
  vault::VaultService service(options, std::move(metadata).value(), **blobs);

  vault::HttpServerOptions http;
  http.listen_url = f.listen;
  http.tls_cert_file = f.tls_cert;
  http.tls_key_file = f.tls_key;
  http.timeout_ms = static_cast<int64_t>(f.timeout * 1000);
  http.idle_timeout_ms = static_cast<int64_t>(f.idle_timeout * 1000);
  http.header_timeout_ms = static_cast<int64_t>(f.header_timeout * 1000);
  http.max_connections = f.max_connections;
  http.max_connections_per_client = f.max_connections_per_client;
  (*alerts)->Start();
  auto server = vault::HttpServer::Start(service, http);
  if (!server.ok()) return Fail(server.status().ToString());
  spdlog::info("objects in {}", (*blobs)->Describe());
  std::printf("vaultd listening on %s\n", f.listen.c_str());
  std::fflush(stdout);

  // The collector: soft-deleted objects past their vault's days are purged
  // once at start and then every --purge-interval-seconds.
  std::mutex collector_mu;
  std::condition_variable collector_cv;
  bool stopping = false;
  std::thread collector([&] {
    std::unique_lock lock(collector_mu);
    do {
      lock.unlock();
      service.PurgeExpired();
      lock.lock();
    } while (!collector_cv.wait_for(lock, std::chrono::duration<double>(f.purge_interval),
                                    [&] { return stopping; }));
  });

  // Missed backups: checked every --missed-backup-check-seconds.
  std::thread missed([&] {
    std::unique_lock lock(collector_mu);
    while (!collector_cv.wait_for(lock, std::chrono::duration<double>(f.missed_backup_check),
                                  [&] { return stopping; })) {
      lock.unlock();
      service.CheckMissedBackups();
      lock.lock();
    }
  });

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  {
    std::lock_guard lock(collector_mu);
    stopping = true;
  }
  collector_cv.notify_all();
  collector.join();
  missed.join();
  (*server)->Stop();
  // Deliveries under way get a few seconds; what is left stays pending in
  // the alert records and is sent at the next start.
  (*alerts)->WaitIdle(5000);
  (*alerts)->Stop();
  return 0;
}
