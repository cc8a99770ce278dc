#include "obagent/status.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

namespace obagent {
namespace {

// Every code of the enum, so a code added without catalogue texts fails here.
constexpr int kLastCode = static_cast<int>(ErrorCode::kUnsupported);

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
                     os_error::kIoDevice, os_error::kDiskFull, os_error::kUnspecified}) {
    EXPECT_FALSE(os_error::Describe(e).empty()) << os_error::Format(e);
  }
  EXPECT_TRUE(os_error::Describe(0x80071234).empty());
}

}  // namespace
}  // namespace obagent
