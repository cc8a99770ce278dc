// A BlobStore on Azure Blob Storage, through the Blob service REST API over
// the platform's HttpClient. Requests are signed with SharedKey (HMAC-SHA256
// of the canonical request under the account key) or carry a SAS token.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include "obagent/core/crypto.h"
#include "obagent/core/idle_pool.h"
#include "obagent/http_client.h"
#include "obagent/storage/blob_store.h"

namespace obagent::storage {
namespace {

using platform::HttpClient;
using platform::HttpRequest;
using platform::HttpResponse;
using platform::UrlEncode;

constexpr char kApiVersion[] = "2021-08-06";
// Blobs per List Blobs page; the service's own maximum is 5000.
constexpr int kListPageSize = 1000;
// Put Block List accepts at most this many blocks.
constexpr size_t kMaxBlocks = 50000;
constexpr int kMaxRetryAfterMs = 30000;
constexpr int kMaxBackoffMs = 30000;

Status InvalidKey(std::string_view key) {
  return InvalidArgument("invalid object key '" + std::string(key) + "'");
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Header values in the string to sign: linear whitespace folded to one
// space, trimmed.
std::string FoldWhitespace(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

// Content between <tag> and </tag> in a small XML error body, or "".
std::string XmlField(std::string_view xml, std::string_view tag) {
  std::string open = "<" + std::string(tag) + ">";
  std::string close = "</" + std::string(tag) + ">";
  size_t a = xml.find(open);
  if (a == std::string_view::npos) return "";
  a += open.size();
  size_t b = xml.find(close, a);
  if (b == std::string_view::npos) return "";
  std::string_view v = xml.substr(a, b - a);
  // Azure's messages carry "\nRequestId:…\nTime:…" after the first line.
  return std::string(v.substr(0, v.find('\n')));
}

struct Call {
  std::string method;
  std::string path;  // below the endpoint, already encoded: "/container/blob"
  std::vector<std::pair<std::string, std::string>> query;  // raw (decoded) values
  std::vector<std::pair<std::string, std::string>> headers;
  bool has_body = false;
  ByteView body;
  std::string content_type = "application/octet-stream";
  size_t reserve = 0;  // expected response size
  // Where the body is received, reusing its capacity
  // (HttpRequest::response_storage); null for a new buffer.
  Bytes* storage = nullptr;
};

using Reply = HttpResponse;

// "HTTP 403 AuthenticationFailed: Server failed to authenticate the request…"
std::string DescribeReply(const Reply& reply) {
  std::string out = "HTTP " + std::to_string(reply.status);
  std::string code = reply.Header("x-ms-error-code");
  if (code.empty()) code = XmlField(AsString(reply.body), "Code");
  if (!code.empty()) out += " " + code;
  std::string message = XmlField(AsString(reply.body), "Message");
  if (!message.empty()) out += ": " + message;
  return out;
}

// A counting semaphore: units of memory that blocks read ahead may hold.
class BufferBudget {
 public:
  explicit BufferBudget(size_t units) : free_(units) {}
  void Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return free_ > 0; });
    --free_;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t free_;
};

class AzureBlobStore final : public BlobStore {
 public:
  AzureBlobStore(AzureBlobConfig config, std::string base_path, Bytes key,
                 std::unique_ptr<HttpClient> client)
      : config_(std::move(config)),
        base_path_(std::move(base_path)),
        key_(std::move(key)),
        client_(std::move(client)) {}

  Status CreateContainer() {
    Call call{"PUT", ContainerPath()};
    call.query = {{"restype", "container"}};
    OB_ASSIGN_OR_RETURN(Reply reply, Send(call, "creating container " + config_.container));
    if (reply.status == 201 || reply.status == 409) return Status::Ok();
    // A SAS may lack the right to create containers; the container may
    // well exist already, and the first real request reports a bad token.
    if (key_.empty() && reply.status == 403) return Status::Ok();
    return HttpError(reply, "creating container " + config_.container);
  }

  Status Put(std::string_view key, ByteView data) override { return PutBytes(key, data, false); }

  Status PutFrom(std::string_view key, ByteSource& source) override {
    return PutStream(key, source, false);
  }

  // If-None-Match: * on Put Blob or Put Block List: the service creates the
  // blob only if none has its name, as one step (Azure's conditional
  // headers; Azurite honours them), and answers 409 (BlobAlreadyExists) or
  // 412 otherwise. Uncommitted blocks of a refused upload are garbage the
  // service drops by itself.
  Status PutNewFrom(std::string_view key, ByteSource& source) override {
    return PutStream(key, source, true);
  }

 private:
  Status PutBytes(std::string_view key, ByteView data, bool create_only) {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string what = "storing " + std::string(key);
    if (data.size() <= config_.single_put_limit) {
      Call call{"PUT", BlobPath(key)};
      call.headers = {{"x-ms-blob-type", "BlockBlob"}};
      if (create_only) call.headers.emplace_back("If-None-Match", "*");
      call.has_body = true;
      call.body = data;
      OB_ASSIGN_OR_RETURN(Reply reply, Send(call, what));
      if (create_only && ExistsRefusal(reply)) return ExistsError(what);
      if (reply.status != 201) return HttpError(reply, what);
      return Status::Ok();
    }
    // One block list, blocks being views into `data`.
    size_t block = BlockSize(data.size());
    size_t offset = 0;
    return PutBlocks(
        key,
        [&](Block* out) -> Result<bool> {
          if (offset >= data.size()) return false;
          out->view = data.subspan(offset, std::min(block, data.size() - offset));
          offset += out->view.size();
          return true;
        },
        create_only);
  }

  Status PutStream(std::string_view key, ByteSource& source, bool create_only) {
    if (!IsValidKey(key)) return InvalidKey(key);
    // The first block tells small from large: a source that ends within it
    // goes up with one Put Blob, anything longer block by block, each
    // uploaded while the next ones are read. The size is unknown, so the
    // block size stays the configured one (50,000 of them: 195 GiB at
    // 4 MiB). Every block read ahead holds a unit of the store-wide budget
    // until its upload is done, so concurrent uploads share one bound.
    size_t block = std::max<size_t>(config_.block_size, 1);
    bool ended = false;
    // Up to one block into `buffer`, which stays block-sized: a pooled
    // buffer is neither zeroed nor faulted in again. The bytes read.
    auto read_block = [&](Bytes& buffer) -> Result<size_t> {
      if (buffer.size() < block) buffer.resize(block);
      size_t filled = 0;
      while (filled < block) {
        OB_ASSIGN_OR_RETURN(size_t got, source.Read(buffer.data() + filled, block - filled));
        if (got == 0) {
          ended = true;
          break;
        }
        filled += got;
      }
      return filled;
    };
    // Waiting for the budget while holding none (or only blocks in
    // flight, which finish by themselves) cannot deadlock.
    upload_budget_.Acquire();
    std::optional<IdlePool<Bytes>::Lease> first(block_buffers_.Acquire());
    Result<size_t> first_size = read_block(**first);
    if (!first_size.ok() || (ended && *first_size <= config_.single_put_limit)) {
      Status put = first_size.ok()
                       ? PutBytes(key, ByteView(**first).first(*first_size), create_only)
                       : first_size.status().WithContext("storing " + std::string(key));
      first.reset();
      upload_budget_.Release();
      return put;
    }
    return PutBlocks(
        key,
        [&](Block* out) -> Result<bool> {
          size_t size = 0;
          if (first) {
            out->owned.emplace(std::move(*first));
            first.reset();
            size = *first_size;
          } else {
            if (ended) return false;
            upload_budget_.Acquire();
            out->owned.emplace(block_buffers_.Acquire());
            Result<size_t> read = read_block(**out->owned);
            if (!read.ok() || *read == 0) {
              out->owned.reset();
              upload_budget_.Release();
              if (!read.ok()) return read.status();
              return false;
            }
            size = *read;
          }
          out->budget = &upload_budget_;
          out->view = ByteView(**out->owned).first(size);
          return true;
        },
        create_only);
  }

 public:
  Result<ObjectInfo> Stat(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string what = "checking " + std::string(key);
    Call call{"HEAD", BlobPath(key)};
    OB_ASSIGN_OR_RETURN(Reply reply, Send(call, what));
    if (reply.status != 200) return HttpError(reply, what);
    uint64_t size = 0;
    if (!ParseSize(reply.Header("Content-Length"), &size)) {
      return IoError(what + ": Get Blob Properties without a usable Content-Length");
    }
    return ObjectInfo{size};
  }

  // Ranged Get Blob requests of block_size bytes each, one after another.
  Status GetTo(std::string_view key, uint64_t offset, uint64_t length, ByteSink& sink) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string what = "reading " + std::string(key);
    if (length == kToEnd) {
      OB_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
      if (offset > info.size) return Beyond(what, offset, 0, std::to_string(info.size));
      length = info.size - offset;
    } else if (offset > UINT64_MAX - length) {
      return Beyond(what, offset, length, "?");
    }
    if (length == 0) {
      // Nothing to send, but the object must exist and reach that far.
      OB_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
      if (offset > info.size) return Beyond(what, offset, 0, std::to_string(info.size));
      return Status::Ok();
    }
    uint64_t piece = std::max<uint64_t>(config_.block_size, 1);
    auto part = received_.Acquire();
    for (uint64_t done = 0; done < length;) {
      uint64_t want = std::min(piece, length - done);
      // The first piece's answer tells whether the whole range exists, so
      // a range past the end fails before anything reached the sink.
      OB_ASSIGN_OR_RETURN(
          *part, ReadRange(key, offset + done, want, done == 0 ? offset + length : 0, &*part));
      ByteView view = *part;
      while (!view.empty()) {
        size_t n = std::min(view.size(), kStreamPieceBytes);
        OB_RETURN_IF_ERROR(sink.Write(view.first(n)));
        view = view.subspan(n);
      }
      done += want;
    }
    return Status::Ok();
  }

  Result<Bytes> Get(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string what = "reading " + std::string(key);
    Call call{"GET", BlobPath(key)};
    OB_ASSIGN_OR_RETURN(Reply reply, Send(call, what));
    if (reply.status != 200) return HttpError(reply, what);
    return std::move(reply.body);
  }

  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string what = "reading " + std::string(key);
    if (length == 0) {
      // An empty range cannot be expressed as a Range header: check the size.
      OB_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
      if (info.size < offset) return Beyond(what, offset, length, std::to_string(info.size));
      return Bytes();
    }
    if (offset > UINT64_MAX - length) return Beyond(what, offset, length, "?");
    return ReadRange(key, offset, length, 0);
  }

  Result<std::vector<std::string>> List(std::string_view prefix) override {
    std::string full_prefix = config_.prefix + std::string(prefix);
    std::string what = "listing " + std::string(prefix);
    std::vector<std::string> keys;
    std::string marker;
    do {
      Call call{"GET", ContainerPath()};
      call.query = {{"restype", "container"},
                    {"comp", "list"},
                    {"maxresults", std::to_string(kListPageSize)}};
      if (!full_prefix.empty()) call.query.emplace_back("prefix", full_prefix);
      if (!marker.empty()) call.query.emplace_back("marker", marker);
      OB_ASSIGN_OR_RETURN(Reply reply, Send(call, what));
      if (reply.status != 200) return HttpError(reply, what);
      std::string previous = marker;
      OB_RETURN_IF_ERROR(ParseList(reply.body, full_prefix, &keys, &marker).WithContext(what));
      if (!marker.empty() && marker == previous) {
        return IoError(what + ": the service repeated continuation marker '" + marker + "'");
      }
    } while (!marker.empty());
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
  }

  Status Delete(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string what = "deleting " + std::string(key);
    Call call{"DELETE", BlobPath(key)};
    OB_ASSIGN_OR_RETURN(Reply reply, Send(call, what));
    if (reply.status == 202 || reply.status == 200 || reply.status == 404) return Status::Ok();
    return HttpError(reply, what);
  }

  Result<bool> Exists(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    std::string what = "checking " + std::string(key);
    Call call{"HEAD", BlobPath(key)};
    OB_ASSIGN_OR_RETURN(Reply reply, Send(call, what));
    if (reply.status == 200) return true;
    if (reply.status == 404) return false;
    return HttpError(reply, what);
  }

  std::string Describe() const override {
    return "azure:" + config_.endpoint + "/" + config_.container + "/" + config_.prefix;
  }

 private:
  // A block of an upload: `view` is what goes up; `owned` holds it when the
  // block was read from a source.
  struct Block {
    std::optional<IdlePool<Bytes>::Lease> owned;
    ByteView view;
    BufferBudget* budget = nullptr;  // released once the block is done with
    void Done() {
      owned.reset();
      if (budget != nullptr) budget->Release();
      budget = nullptr;
    }
  };

  // How many blocks read from sources may exist at once, across uploads.
  static size_t UploadBufferBlocks(const AzureBlobConfig& config) {
    return std::max<size_t>(1, config.upload_buffer_bytes / std::max<size_t>(config.block_size, 1));
  }

  size_t BlockSize(uint64_t total) const {
    size_t block = std::max<size_t>(config_.block_size, 1);
    return std::max<size_t>(block, static_cast<size_t>((total + kMaxBlocks - 1) / kMaxBlocks));
  }

  // Put Block for every block `next` yields (false: no more), up to
  // parallel_blocks of them in flight at once, then Put Block List. Blocks
  // stay uncommitted (invisible) until the list names them, so a failed
  // upload never shows. A random upload id in every block id keeps
  // concurrent uploads of the same key from committing each other's blocks.
  Status PutBlocks(std::string_view key, const std::function<Result<bool>(Block*)>& next,
                   bool create_only) {
    std::string what = "storing " + std::string(key);
    Bytes upload_id = crypto::RandomBytes(12);
    std::string list = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
    std::deque<std::future<Status>> in_flight;
    size_t max_in_flight = static_cast<size_t>(std::max(config_.parallel_blocks, 1));
    Status failed;
    auto wait_oldest = [&] {
      Status st = in_flight.front().get();
      in_flight.pop_front();
      if (failed.ok() && !st.ok()) failed = st;
    };
    for (uint32_t index = 0; failed.ok(); ++index) {
      if (index >= kMaxBlocks) {
        failed = InvalidArgument(what + ": more than " + std::to_string(kMaxBlocks) + " blocks");
        break;
      }
      auto block = std::make_shared<Block>();
      Result<bool> more = next(block.get());
      if (!more.ok()) {
        failed = more.status().WithContext(what);
        break;
      }
      if (!*more) break;
      Bytes raw_id = upload_id;
      for (int shift = 24; shift >= 0; shift -= 8) {
        raw_id.push_back(static_cast<uint8_t>(index >> shift));
      }
      std::string id = Base64Encode(raw_id);  // 16 bytes: always 24 characters
      list += "<Latest>" + id + "</Latest>";
      while (in_flight.size() >= max_in_flight) wait_oldest();
      if (!failed.ok()) {
        block->Done();
        break;
      }
      in_flight.push_back(std::async(
          std::launch::async, [this, key = std::string(key), id, index, block, what]() -> Status {
            Call call{"PUT", BlobPath(key)};
            call.query = {{"comp", "block"}, {"blockid", id}};
            call.has_body = true;
            call.body = block->view;
            Result<Reply> reply = Send(call, what + " (block " + std::to_string(index) + ")");
            block->Done();
            if (!reply.ok()) return reply.status();
            if (reply->status != 201) return HttpError(*reply, what);
            return Status::Ok();
          }));
    }
    while (!in_flight.empty()) wait_oldest();
    if (!failed.ok()) return failed;
    list += "</BlockList>";
    Call call{"PUT", BlobPath(key)};
    call.query = {{"comp", "blocklist"}};
    call.has_body = true;
    call.body = AsBytes(list);
    call.content_type = "application/xml";
    if (create_only) call.headers.emplace_back("If-None-Match", "*");
    OB_ASSIGN_OR_RETURN(Reply reply, Send(call, what + " (block list)"));
    if (create_only && ExistsRefusal(reply)) return ExistsError(what);
    if (reply.status != 201) return HttpError(reply, what);
    return Status::Ok();
  }

  static bool ParseSize(const std::string& text, uint64_t* out) {
    if (text.empty() || text.size() > 19 ||
        text.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    *out = std::strtoull(text.c_str(), nullptr, 10);
    return true;
  }

  static Status Beyond(const std::string& what, uint64_t offset, uint64_t length,
                       const std::string& size) {
    return Corrupt(what + ": range " + std::to_string(offset) + "+" + std::to_string(length) +
                   " is beyond the object's " + size + " bytes");
  }

  // Bytes [offset, offset+length) (length > 0) with one ranged Get Blob;
  // kCorrupt when the object is shorter. With need_end > 0 the object must
  // also reach need_end (its size comes back in Content-Range).
  // `storage`: as Call::storage.
  Result<Bytes> ReadRange(std::string_view key, uint64_t offset, uint64_t length, uint64_t need_end,
                          Bytes* storage = nullptr) {
    std::string what = "reading " + std::string(key);
    Call call{"GET", BlobPath(key)};
    call.headers = {{"x-ms-range", "bytes=" + std::to_string(offset) + "-" +
                                       std::to_string(offset + length - 1)}};
    call.reserve = static_cast<size_t>(length);
    call.storage = storage;
    OB_ASSIGN_OR_RETURN(Reply reply, Send(call, what));
    if (reply.status == 416) return Beyond(what, offset, length, "fewer");
    if (reply.status == 200) {
      // The whole object (a service that ignored the range).
      uint64_t size = reply.body.size();
      if (size < offset + length || size < need_end) {
        return Beyond(what, offset, length, std::to_string(size));
      }
      return Bytes(reply.body.begin() + static_cast<ptrdiff_t>(offset),
                   reply.body.begin() + static_cast<ptrdiff_t>(offset + length));
    }
    if (reply.status != 206) return HttpError(reply, what);
    // "bytes a-b/total": the service returns what exists of the range.
    std::string range = reply.Header("Content-Range");
    size_t slash = range.rfind('/');
    std::string total_text = slash == std::string::npos ? "" : range.substr(slash + 1);
    uint64_t total = 0;
    bool known = ParseSize(total_text, &total);
    if (reply.body.size() != length || (need_end > 0 && known && total < need_end)) {
      return Beyond(what, offset, need_end > 0 ? need_end - offset : length,
                    known ? total_text : "fewer");
    }
    return std::move(reply.body);
  }

  std::string ContainerPath() const {
    return base_path_ + "/" + UrlEncode(config_.container, false);
  }
  std::string BlobPath(std::string_view key) const {
    return ContainerPath() + "/" + UrlEncode(config_.prefix + std::string(key), true);
  }

  // The List Blobs answer: <EnumerationResults><Blobs><Blob><Name>…</Name>…
  // </Blob></Blobs><NextMarker>…</NextMarker></EnumerationResults>.
  Status ParseList(const Bytes& body, const std::string& full_prefix,
                   std::vector<std::string>* keys, std::string* marker) const {
    namespace pt = boost::property_tree;
    pt::ptree tree;
    try {
      std::istringstream in{std::string(AsString(body))};
      pt::read_xml(in, tree);
    } catch (const std::exception& e) {
      return IoError(std::string("unreadable List Blobs answer: ") + e.what());
    }
    auto root = tree.get_child_optional("EnumerationResults");
    if (!root) return IoError("List Blobs answer without EnumerationResults");
    if (auto blobs = root->get_child_optional("Blobs")) {
      for (const auto& [tag, blob] : *blobs) {
        if (tag != "Blob") continue;
        std::string name = blob.get<std::string>("Name", "");
        if (!name.starts_with(full_prefix)) continue;
        std::string key = name.substr(config_.prefix.size());
        if (!key.empty()) keys->push_back(std::move(key));
      }
    }
    *marker = root->get<std::string>("NextMarker", "");
    return Status::Ok();
  }

  // A create-only write refused because the blob exists.
  static bool ExistsRefusal(const Reply& reply) {
    return reply.status == 409 || reply.status == 412;
  }
  static Status ExistsError(const std::string& what) {
    return Status(ErrorCode::kAlreadyExists, what + ": the blob exists");
  }

  Status HttpError(const Reply& reply, const std::string& what) const {
    std::string detail = what + " at " + Describe() + ": " + DescribeReply(reply);
    if (reply.status == 401 || reply.status == 403) {
      return IoError(
          what + ": authentication failed at " + Describe() +
          " (wrong account key or SAS token, or no permission): " + DescribeReply(reply));
    }
    if (reply.status == 404) return NotFound(detail);
    return IoError(detail);
  }

  // Sends `call` by the HTTP layer's one retry policy (SendWithRetry): every
  // request of this store is safe to repeat (GET, HEAD, PUT of the same
  // bytes or block list, DELETE whose 404 counts as done), and each attempt
  // is signed anew. Any answer that is not retryable (2xx, 3xx, 4xx but
  // 408/429) is returned for the caller to judge.
  Result<Reply> Send(const Call& call, const std::string& what) const {
    platform::HttpRetryPolicy policy;
    policy.max_attempts = config_.max_attempts;
    policy.base_delay_ms = config_.base_delay_ms;
    policy.max_delay_ms = kMaxBackoffMs;
    policy.max_retry_after_ms = kMaxRetryAfterMs;
    Result<Reply> reply = platform::SendWithRetry(
        policy, platform::Repeat::kSafe, [&] { return SendOnce(call); },
        platform::RetryClock::Real(), DescribeReply);
    if (!reply.ok() && reply.status().code() == ErrorCode::kServiceUnreachable) {
      return Status(ErrorCode::kServiceUnreachable,
                    what + ": " + Describe() + " " + reply.status().detail());
    }
    return reply;
  }

  // One HTTP exchange, signed.
  Result<Reply> SendOnce(const Call& call) const {
    HttpRequest request;
    request.method = call.method;
    std::string query;
    for (const auto& [name, value] : call.query) {
      query += query.empty() ? "" : "&";
      query += UrlEncode(name, false) + "=" + UrlEncode(value, false);
    }
    if (key_.empty() && !config_.sas_token.empty()) {
      query += (query.empty() ? "" : "&") + config_.sas_token;
    }
    request.target = call.path + (query.empty() ? "" : "?" + query);
    request.headers = call.headers;
    if (call.has_body) {
      request.body = call.body;
      request.headers.emplace_back("Content-Type", call.content_type);
    }
    request.headers.emplace_back("x-ms-version", kApiVersion);
    request.headers.emplace_back("x-ms-date", platform::HttpDateNow());
    if (!key_.empty()) request.headers.emplace_back("Authorization", SharedKey(request, call));
    request.expected_response_bytes = call.reserve;
    request.response_storage = call.storage;
    return client_->Send(request);
  }

  // "SharedKey <account>:<base64 HMAC-SHA256(key, string to sign)>", per
  // "Authorize with Shared Key" (versions 2015-02-21 and later).
  std::string SharedKey(const HttpRequest& request, const Call& call) const {
    auto value = [&](std::string_view name) {
      for (const auto& [n, v] : request.headers) {
        if (ToLower(n) == name) return FoldWhitespace(v);
      }
      return std::string();
    };
    // The Content-Length the client sends; "" for none or 0.
    std::string length = request.body.empty() ? "" : std::to_string(request.body.size());
    std::string to_sign =
        call.method + "\n" + value("content-encoding") + "\n" + value("content-language") + "\n" +
        length + "\n" + value("content-md5") + "\n" + value("content-type") + "\n" + value("date") +
        "\n" + value("if-modified-since") + "\n" + value("if-match") + "\n" +
        value("if-none-match") + "\n" + value("if-unmodified-since") + "\n" + value("range") + "\n";
    std::vector<std::pair<std::string, std::string>> ms;
    for (const auto& [name, v] : request.headers) {
      std::string lower = ToLower(name);
      if (lower.starts_with("x-ms-")) ms.emplace_back(lower, FoldWhitespace(v));
    }
    std::sort(ms.begin(), ms.end());
    for (const auto& [name, v] : ms) to_sign += name + ":" + v + "\n";
    // Canonicalized resource: "/" + account + the encoded URL path (which
    // already starts with the account for path-style endpoints), then each
    // query parameter as "\nname:value" sorted by name, values decoded.
    to_sign += "/" + config_.account + call.path;
    std::vector<std::pair<std::string, std::string>> params;
    for (const auto& [name, v] : call.query) params.emplace_back(ToLower(name), v);
    std::sort(params.begin(), params.end());
    for (size_t i = 0; i < params.size(); ++i) {
      if (i > 0 && params[i].first == params[i - 1].first) {
        to_sign += "," + params[i].second;
      } else {
        to_sign += "\n" + params[i].first + ":" + params[i].second;
      }
    }
    crypto::Digest mac = crypto::HmacSha256AnyKey(key_, AsBytes(to_sign));
    return "SharedKey " + config_.account + ":" + Base64Encode(mac);
  }

  const AzureBlobConfig config_;
  BufferBudget upload_budget_{UploadBufferBlocks(config_)};
  const std::string base_path_;  // the endpoint's path, no trailing '/'
  const Bytes key_;              // decoded account key; empty for SAS
  const std::unique_ptr<HttpClient> client_;
  // Receive buffers of GetTo's Get Blob pieces, kept for the next reads
  // (vaultd serves each ranged read on its connection's thread): a fresh
  // block-sized buffer costs a mapping and a fault on every page.
  IdlePool<Bytes> received_{4};
  // Buffers of blocks read from a source for upload, as many as the upload
  // budget lets exist at once: vaultd receives every pack this way, and a
  // fresh block-sized buffer costs a mapping and a fault on every page.
  IdlePool<Bytes> block_buffers_{UploadBufferBlocks(config_)};
};

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenAzureBlobStore(const AzureBlobConfig& config) {
  AzureBlobConfig cfg = config;
  while (!cfg.endpoint.empty() && cfg.endpoint.back() == '/') cfg.endpoint.pop_back();
  if (cfg.endpoint.empty()) return InvalidArgument("azure: empty endpoint");
  if (cfg.container.empty()) return InvalidArgument("azure: empty container name");
  if (!cfg.prefix.empty() &&
      (cfg.prefix.back() != '/' || !IsValidKey(cfg.prefix.substr(0, cfg.prefix.size() - 1)))) {
    return InvalidArgument("azure: invalid prefix '" + cfg.prefix +
                           "' (it must be a valid key path ending in '/')");
  }
  if (!cfg.sas_token.empty() && cfg.sas_token.front() == '?') cfg.sas_token.erase(0, 1);
  Bytes key;
  if (!cfg.account_key.empty()) {
    if (cfg.account.empty()) return InvalidArgument("azure: account key given without account");
    auto decoded = Base64Decode(cfg.account_key);
    if (!decoded.ok() || decoded->empty()) {
      return InvalidArgument("azure: the account key is not valid base64");
    }
    key = std::move(decoded).value();
  } else if (cfg.sas_token.empty()) {
    return InvalidArgument("azure: neither an account key nor a SAS token is configured");
  }

  auto endpoint = platform::ParseHttpUrl(cfg.endpoint);
  if (!endpoint.ok()) return endpoint.status().WithContext("azure: endpoint");
  // The client talks to the host; the endpoint's path (the account, for
  // path-style endpoints such as Azurite's) is part of every signed path.
  std::string base_path = endpoint->path;
  platform::HttpClientOptions options;
  options.base_url = cfg.endpoint.substr(0, cfg.endpoint.size() - base_path.size());
  options.timeout_seconds = std::max(cfg.timeout_seconds, 1);
  // One upload's blocks are sent at once; their copies' storage is reused.
  options.idle_body_copies = static_cast<size_t>(std::max(cfg.parallel_blocks, 1));
  OB_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> client, platform::NewHttpClient(options));
  auto store = std::make_unique<AzureBlobStore>(cfg, base_path, std::move(key), std::move(client));
  if (cfg.create_container) {
    OB_RETURN_IF_ERROR(store->CreateContainer());
  }
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace obagent::storage
