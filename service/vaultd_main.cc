// vaultd: the vault service (docs/vault-api.md). Keeps vaults, issues
// vault-credential files, registers machines and stores their encrypted
// objects in a local folder or Azure Blob Storage.
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/program_options.hpp>

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

#include "obagent/platform.h"
#include "obagent/storage/blob_store.h"
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

  vault::ServiceOptions options;
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

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  {
    std::lock_guard lock(collector_mu);
    stopping = true;
  }
  collector_cv.notify_all();
  collector.join();
  (*server)->Stop();
  return 0;
}
