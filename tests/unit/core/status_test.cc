#include "obagent/status.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

namespace obagent {
namespace {

// Every code of the enum, so a code added without catalogue texts fails here.
constexpr int kLastCode = static_cast<int>(ErrorCode::kVaultImmutable);

TEST(StatusTest, CatalogueCodesAreExactlyTheCodesWithAnId) {
  auto listed = CatalogueCodes();
  std::set<std::string_view> ids;
  for (int i = 0; i <= kLastCode; ++i) {
    auto code = static_cast<ErrorCode>(i);
    bool has_id = !CatalogueId(code).empty();
    bool in_list = std::find(listed.begin(), listed.end(), code) != listed.end();
    EXPECT_EQ(has_id, in_list) << "code " << i;
    if (has_id) {
      EXPECT_TRUE(ids.insert(CatalogueId(code)).second) << CatalogueId(code);
    }
  }
  EXPECT_EQ(ids.size(), listed.size());
}

// The wire names: one per code, distinct, read back to the same code; a
// name this build does not know is nullopt.
TEST(StatusTest, EveryCodeHasAStableNameThatReadsBack) {
  std::set<std::string_view> names;
  for (int i = 0; i <= kLastCode; ++i) {
    auto code = static_cast<ErrorCode>(i);
    std::string_view name = ErrorCodeName(code);
    EXPECT_FALSE(name.empty()) << "code " << i;
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(ErrorCodeFromName(name), code) << name;
  }
  EXPECT_EQ(ErrorCodeName(ErrorCode::kNotFound), "NotFound");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kEngineNotRunning), "EngineNotRunning");
  EXPECT_EQ(ErrorCodeFromName("notfound"), std::nullopt);
  EXPECT_EQ(ErrorCodeFromName(""), std::nullopt);
  EXPECT_EQ(ErrorCodeFromName("2"), std::nullopt);
}

TEST(StatusTest, EngineNotRunningHasItsCatalogueId) {
  Status s(ErrorCode::kEngineNotRunning, "no socket at /run/x");
  EXPECT_EQ(s.ToString(),
            "[0x80070426] The backup engine service is not running: no socket at /run/x");
}

TEST(StatusTest, EveryCatalogueErrorHasMessageExplanationAndAction) {
  for (ErrorCode code : CatalogueCodes()) {
    SCOPED_TRACE(std::string(CatalogueId(code)));
    EXPECT_FALSE(CatalogueMessage(code).empty());
    // Sentences, not placeholders.
    EXPECT_GT(CatalogueExplanation(code).size(), 30u);
    EXPECT_GT(CatalogueAction(code).size(), 30u);
    EXPECT_EQ(CatalogueExplanation(code).back(), '.');
    EXPECT_EQ(CatalogueAction(code).back(), '.');
  }
  EXPECT_TRUE(CatalogueExplanation(ErrorCode::kIo).empty());
  EXPECT_TRUE(CatalogueAction(ErrorCode::kInvalidArgument).empty());
}

TEST(StatusTest, ToStringPutsTheIdAndGistInFront) {
  Status s(ErrorCode::kInvalidVaultCredentials, "expired 3 h ago");
  EXPECT_EQ(s.ToString(), "[34513] Invalid vault credentials provided: expired 3 h ago");
  EXPECT_EQ(IoError("disk").ToString(), "disk");
  EXPECT_EQ(s.WithContext("register").ToString(),
            "[34513] Invalid vault credentials provided: register: expired 3 h ago");
}

TEST(StatusTest, OsErrorsAreFormattedAndDescribed) {
  EXPECT_EQ(os_error::Format(os_error::kAccessDenied), "0x80070005");
  EXPECT_EQ(os_error::Format(os_error::kNone), "");
  for (uint32_t e : {os_error::kFileNotFound, os_error::kPathNotFound, os_error::kAccessDenied,
                     os_error::kSharingViolation, os_error::kNotSupported, os_error::kFileCorrupt,
                     os_error::kIoDevice, os_error::kDiskFull, os_error::kUnspecified,
                     0x8007018Bu /* ERROR_CLOUD_FILE_ACCESS_DENIED */}) {
    EXPECT_FALSE(os_error::Describe(e).empty()) << os_error::Format(e);
  }
  EXPECT_TRUE(os_error::Describe(0x80071234).empty());
}

}  // namespace
}  // namespace obagent
