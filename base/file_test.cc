#include "base/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

std::string TempPath(const char* name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

TEST(FileTest, ReadsRegularFiles) {
  const std::string path = TempPath("regular.txt");
  std::ofstream(path) << "hello";
  absl::StatusOr<std::string> s = ReadRegularFile(path, 100);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "hello");
  EXPECT_EQ(ReadRegularFile(path, 3).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(FileTest, FifoIsAnErrorNotAHang) {
  const std::string path = TempPath("fifo");
  ::unlink(path.c_str());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  absl::StatusOr<RegularFile> f = RegularFile::Open(path, "model");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("is a FIFO"), std::string::npos) << f.status();
  EXPECT_NE(f.status().message().find("model"), std::string::npos) << f.status();
}

TEST(FileTest, DirectoryAndDeviceAreErrors) {
  EXPECT_NE(RegularFile::Open(TempPath("")).status().message().find("is a directory"), std::string::npos);
  EXPECT_NE(RegularFile::Open("/dev/null").status().message().find("character device"), std::string::npos);
  EXPECT_EQ(RegularFile::Open(TempPath("missing")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ggrt
