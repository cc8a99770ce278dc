// Tests of the HTTP client layer's one retry policy (SendWithRetry,
// RetryingHttpClient, Retry-After): scripted answers and an injected clock,
// so no test waits in real time.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "obagent/http_client.h"

namespace obagent::platform {
namespace {

// 2026-12-06T12:00:00Z.
constexpr int64_t kNowSeconds = 1796558400;

// Time stands still but for the sleeps, which it records; the jitter is
// whatever the test sets.
class FakeClock final : public RetryClock {
 public:
  int64_t NowUnixMs() override { return now_ms; }
  void SleepMs(int64_t ms) override {
    sleeps.push_back(ms);
    now_ms += ms;
  }
  double Jitter() override { return jitter; }

  int64_t now_ms = kNowSeconds * 1000;
  double jitter = 1.0;
  std::vector<int64_t> sleeps;
};

HttpResponse Answer(int status, std::string retry_after = "") {
  HttpResponse r;
  r.status = status;
  if (!retry_after.empty()) r.headers.emplace_back("Retry-After", std::move(retry_after));
  return r;
}

Status Unreachable() { return Status(ErrorCode::kServiceUnreachable, "connection refused"); }

// Hands out the scripted results in turn and counts the attempts.
struct Script {
  std::deque<Result<HttpResponse>> results;
  int attempts = 0;
  HttpAttempt Attempt() {
    return [this]() -> Result<HttpResponse> {
      ++attempts;
      if (results.empty()) {
        ADD_FAILURE() << "more attempts than scripted";
        return Status(ErrorCode::kInternal, "unscripted");
      }
      Result<HttpResponse> r = std::move(results.front());
      results.pop_front();
      return r;
    };
  }
};

HttpRetryPolicy Policy(int attempts = 4) {
  HttpRetryPolicy p;
  p.max_attempts = attempts;
  p.base_delay_ms = 100;
  p.max_delay_ms = 1000;
  p.max_retry_after_ms = 5000;
  return p;
}

TEST(HttpRetryTest, RetryableStatuses) {
  for (int status : {408, 429, 500, 502, 503, 504, 599}) {
    EXPECT_TRUE(IsRetryableStatus(status)) << status;
  }
  for (int status : {200, 201, 206, 302, 400, 401, 403, 404, 407, 409, 412, 416, 600}) {
    EXPECT_FALSE(IsRetryableStatus(status)) << status;
  }
}

TEST(HttpRetryTest, RetryAfterInSeconds) {
  EXPECT_EQ(RetryAfterMs("120", 0), 120000);
  EXPECT_EQ(RetryAfterMs(" 3 ", 0), 3000);
  EXPECT_EQ(RetryAfterMs("0", 0), 0);
  // Absurdly long: still a number, the policy's cap cuts it.
  EXPECT_GT(*RetryAfterMs("99999999999999999999", 0), 86400000);
  for (const char* bad : {"", " ", "-1", "1.5", "+3", "3s", "soon"}) {
    EXPECT_FALSE(RetryAfterMs(bad, 0).has_value()) << bad;
  }
}

TEST(HttpRetryTest, RetryAfterAsHttpDate) {
  int64_t now_ms = kNowSeconds * 1000;
  // Our own formatter's dates read back.
  EXPECT_EQ(RetryAfterMs(HttpDate(kNowSeconds + 7), now_ms), 7000);
  EXPECT_EQ(RetryAfterMs(HttpDate(kNowSeconds + 7), now_ms + 400), 6600);
  // RFC 9110's example date, long past: retry at once.
  EXPECT_EQ(RetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", now_ms), 0);
  // 1994-11-06T08:49:37Z is 784111777.
  EXPECT_EQ(RetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", 784111770000), 7000);
  EXPECT_EQ(RetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", 784111777500), 0);
  for (const char* bad : {"Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Foo 1994 08:49:37 GMT",
                          "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:49:37 GMT",
                          "Sun,06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT"}) {
    EXPECT_FALSE(RetryAfterMs(bad, now_ms).has_value()) << bad;
  }
}

TEST(HttpRetryTest, BackoffDoublesWithJitterUpToTheCap) {
  FakeClock clock;
  HttpRetryPolicy policy = Policy();
  EXPECT_EQ(RetryDelayMs(policy, 1, nullptr, clock), 100);
  EXPECT_EQ(RetryDelayMs(policy, 2, nullptr, clock), 200);
  EXPECT_EQ(RetryDelayMs(policy, 3, nullptr, clock), 400);
  EXPECT_EQ(RetryDelayMs(policy, 4, nullptr, clock), 800);
  EXPECT_EQ(RetryDelayMs(policy, 5, nullptr, clock), 1000);   // capped
  EXPECT_EQ(RetryDelayMs(policy, 40, nullptr, clock), 1000);  // no overflow
  clock.jitter = 0.5;
  EXPECT_EQ(RetryDelayMs(policy, 2, nullptr, clock), 100);
  clock.jitter = 1.5;
  EXPECT_EQ(RetryDelayMs(policy, 2, nullptr, clock), 300);
  EXPECT_EQ(RetryDelayMs(policy, 4, nullptr, clock), 1000);  // the cap holds after jitter
  // An answer without Retry-After (or with an unreadable one) backs off too.
  HttpResponse busy = Answer(503);
  EXPECT_EQ(RetryDelayMs(policy, 1, &busy, clock), 150);
  HttpResponse garbled = Answer(503, "later");
  EXPECT_EQ(RetryDelayMs(policy, 1, &garbled, clock), 150);
}

TEST(HttpRetryTest, RetryAfterReplacesTheBackoffUpToItsCap) {
  FakeClock clock;
  clock.jitter = 1.5;
  HttpRetryPolicy policy = Policy();
  HttpResponse two = Answer(429, "2");
  EXPECT_EQ(RetryDelayMs(policy, 1, &two, clock), 2000);
  HttpResponse now = Answer(503, "0");
  EXPECT_EQ(RetryDelayMs(policy, 3, &now, clock), 0);
  HttpResponse hour = Answer(503, "3600");
  EXPECT_EQ(RetryDelayMs(policy, 1, &hour, clock), 5000);
  HttpResponse date = Answer(503, HttpDate(kNowSeconds + 3));
  EXPECT_EQ(RetryDelayMs(policy, 1, &date, clock), 3000);
  HttpResponse far_date = Answer(503, HttpDate(kNowSeconds + 86400));
  EXPECT_EQ(RetryDelayMs(policy, 1, &far_date, clock), 5000);
}

TEST(HttpRetryTest, RetriesUntilAnAnswerThatIsNotRetryable) {
  FakeClock clock;
  Script script;
  script.results = {Answer(503, "2"), Unreachable(), Answer(429), Answer(201)};
  auto r = SendWithRetry(Policy(), Repeat::kSafe, script.Attempt(), clock);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(script.attempts, 4);
  // Retry-After, then the back-off of retries 2 and 3.
  EXPECT_EQ(clock.sleeps, (std::vector<int64_t>{2000, 200, 400}));
}

TEST(HttpRetryTest, AnswersThatAreNotRetryableComeBackAtOnce) {
  for (int status : {200, 302, 400, 404, 407, 409}) {
    FakeClock clock;
    Script script;
    script.results = {Answer(status, "1")};
    auto r = SendWithRetry(Policy(), Repeat::kSafe, script.Attempt(), clock);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, status);
    EXPECT_EQ(script.attempts, 1);
    EXPECT_TRUE(clock.sleeps.empty());
  }
}

TEST(HttpRetryTest, OtherErrorsAreNotRetried) {
  FakeClock clock;
  Script script;
  script.results = {Status(ErrorCode::kInvalidArgument, "bad target")};
  auto r = SendWithRetry(Policy(), Repeat::kSafe, script.Attempt(), clock);
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.status().detail(), "bad target");
  EXPECT_EQ(script.attempts, 1);
}

TEST(HttpRetryTest, ExhaustedAttemptsAreServiceUnreachable) {
  FakeClock clock;
  Script script;
  script.results = {Answer(500), Unreachable(), Answer(500)};
  auto r = SendWithRetry(Policy(3), Repeat::kSafe, script.Attempt(), clock);
  EXPECT_EQ(r.status().code(), ErrorCode::kServiceUnreachable);
  EXPECT_EQ(r.status().detail(), "failed after 3 attempts: HTTP 500");
  EXPECT_EQ(script.attempts, 3);
  EXPECT_EQ(clock.sleeps.size(), 2u);  // no wait after the last attempt

  Script refused;
  refused.results = {Answer(500), Unreachable()};
  r = SendWithRetry(Policy(2), Repeat::kSafe, refused.Attempt(), clock);
  EXPECT_EQ(r.status().detail(), "failed after 2 attempts: connection refused");
}

TEST(HttpRetryTest, TheCallerDescribesTheLastAnswer) {
  FakeClock clock;
  Script script;
  script.results = {Answer(503), Answer(503)};
  auto r = SendWithRetry(
      Policy(2), Repeat::kSafe, script.Attempt(), clock,
      [](const HttpResponse& a) { return "HTTP " + std::to_string(a.status) + " ServerBusy"; });
  EXPECT_EQ(r.status().detail(), "failed after 2 attempts: HTTP 503 ServerBusy");
}

TEST(HttpRetryTest, RequestsNotSafeToRepeatGetOneAttempt) {
  FakeClock clock;
  Script busy;
  busy.results = {Answer(503, "0")};
  auto r = SendWithRetry(Policy(), Repeat::kNo, busy.Attempt(), clock);
  EXPECT_EQ(r.status().code(), ErrorCode::kServiceUnreachable);
  EXPECT_EQ(r.status().detail(), "failed after 1 attempt: HTTP 503");
  EXPECT_EQ(busy.attempts, 1);

  Script refused;
  refused.results = {Unreachable()};
  r = SendWithRetry(Policy(), Repeat::kNo, refused.Attempt(), clock);
  EXPECT_EQ(r.status().detail(), "failed after 1 attempt: connection refused");
  EXPECT_EQ(refused.attempts, 1);
  EXPECT_TRUE(clock.sleeps.empty());
}

TEST(HttpRetryTest, AtLeastOneAttempt) {
  FakeClock clock;
  Script script;
  script.results = {Answer(200)};
  auto r = SendWithRetry(Policy(0), Repeat::kSafe, script.Attempt(), clock);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(script.attempts, 1);
}

// An HttpClient answering from a script, recording what it was sent.
class ScriptedClient final : public HttpClient {
 public:
  explicit ScriptedClient(Script* script) : script_(script) {}
  Result<HttpResponse> Send(const HttpRequest& request) override {
    targets.push_back(request.target);
    return script_->Attempt()();
  }
  const std::string& base_url() const override { return url_; }
  std::vector<std::string> targets;

 private:
  Script* script_;
  std::string url_ = "http://vault.example:8470";
};

TEST(HttpRetryTest, RetryingClientRepeatsOnlyWhatTheCallerAllows) {
  FakeClock clock;
  Script script;
  auto inner = std::make_unique<ScriptedClient>(&script);
  ScriptedClient* seen = inner.get();
  RetryingHttpClient client(std::move(inner), Policy(3), clock);
  EXPECT_EQ(client.base_url(), "http://vault.example:8470");

  HttpRequest put;
  put.method = "PUT";
  put.target = "/v1/objects/data/ab/ab12";
  put.repeat = Repeat::kSafe;
  script.results = {Unreachable(), Answer(503), Answer(201)};
  auto r = client.Send(put);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(seen->targets, std::vector<std::string>(3, put.target));
  EXPECT_EQ(clock.sleeps, (std::vector<int64_t>{100, 200}));

  HttpRequest post;
  post.method = "POST";
  post.target = "/v1/jobs";  // repeat stays kNo: a second report would be a second job
  script.results = {Answer(503)};
  r = client.Send(post);
  EXPECT_EQ(r.status().code(), ErrorCode::kServiceUnreachable);
  EXPECT_EQ(script.attempts, 4);
  EXPECT_EQ(clock.sleeps.size(), 2u);
}

}  // namespace
}  // namespace obagent::platform
