// Opening files named by users: only regular files are read, so a FIFO, a directory or a device is a clear
// error instead of a hang in open() or read(), or a misleading parse error.
#ifndef GGRT_BASE_FILE_H_
#define GGRT_BASE_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace ggrt {

// An open read-only descriptor of a regular file and its size; closes on destruction.
class RegularFile {
 public:
  // `what` says what the file is for ("model", "vocabulary") in messages.
  static absl::StatusOr<RegularFile> Open(const std::string& path, const char* what = "file");

  RegularFile(RegularFile&& other) noexcept : fd_(other.fd_), size_(other.size_) { other.fd_ = -1; }
  RegularFile& operator=(RegularFile&&) = delete;
  RegularFile(const RegularFile&) = delete;
  ~RegularFile();

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }

 private:
  RegularFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
  int fd_;
  uint64_t size_;
};

// The whole content of a regular file of at most `max_bytes`.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, uint64_t max_bytes, const char* what = "file");

}  // namespace ggrt

#endif  // GGRT_BASE_FILE_H_
