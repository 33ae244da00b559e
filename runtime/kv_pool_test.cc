#include "runtime/kv_pool.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

TEST(KvPoolTest, HandsOutEachPageOnceAndTakesThemBack) {
  KvPool pool(10);
  auto a = pool.Take(4);
  auto b = pool.Take(6);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(pool.free_pages(), 0);
  std::vector<int32_t> all = *a;
  all.insert(all.end(), b->begin(), b->end());
  std::sort(all.begin(), all.end());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(all[i], i);  // Every page, once.
  auto none = pool.Take(1);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(none.status().message().find("0 of 10 pages free"), std::string::npos) << none.status();
  pool.Return(*a);
  EXPECT_EQ(pool.free_pages(), 4);
  EXPECT_EQ(pool.used_pages(), 6);
  auto again = pool.Take(4);
  ASSERT_TRUE(again.ok());
  std::vector<int32_t> x = *again, y = *a;
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  EXPECT_EQ(x, y);  // Only the returned pages were free.
  EXPECT_FALSE(pool.Take(-1).ok());
}

TEST(KvPoolDeathTest, ReturningAPageTwiceIsAProgrammerError) {
  KvPool pool(2);
  auto a = pool.Take(1);
  ASSERT_TRUE(a.ok());
  pool.Return(*a);
  EXPECT_DEATH(pool.Return(*a), "not handed out");
}

}  // namespace
}  // namespace ggrt
